/**
 * The offline fixture-image builder: layers as reproducible tars (gzip, zstd or none), image configs,
 * Docker schema 2 and OCI manifests and indexes, OCI layouts and archives, `docker save` archives, and a
 * Distribution API push. No docker daemon and no network besides the target registry.
 */
export { BlobStore, digestHex, sha256Digest, type StoredBlob } from './blob-store.js';
export {
  type BuiltFixture,
  buildCatalogue,
  type CatalogueBuild,
  type FixturePaths,
  type PushCatalogueOptions,
  pushCatalogue,
} from './build.js';
export {
  BUSYBOX_PATH,
  type BusyboxLayerOptions,
  busyboxLayer,
  DEFAULT_PATH,
  GROUP,
  loadBusybox,
  PASSWD,
} from './busybox.js';
export {
  type CatalogueOptions,
  type FixtureDefinition,
  fixtureCatalogue,
  LAYERS_DESCRIPTION,
  type LargeOptions,
  largeFixture,
  MULTIARCH_DESCRIPTION,
  noise,
} from './catalogue.js';
export { type DockerArchiveResult, legacyLayerIds, splitRepoTag, writeDockerArchive } from './docker-archive.js';
export {
  type BuiltImage,
  type BuiltIndex,
  ImageBuilder,
  type ImageConfig,
  type ImageSpec,
  type IndexSpec,
  imageManifest,
  indexManifest,
  layerMediaType,
  type ManifestBlob,
  type ManifestFormat,
  MediaType,
  type Platform,
  type RuntimeConfig,
} from './image.js';
export {
  type BuiltLayer,
  buildLayer,
  type Compression,
  type EntryOptions,
  FIXED_TIME,
  type FileContent,
  Layer,
  type LayerEntry,
  type LayerOptions,
  packEntries,
} from './layer.js';
export { type LayoutResult, ociBlobs, writeOciArchive, writeOciLayout } from './oci-layout.js';
export { checkName, type PushResult, RegistryClient, type RegistryClientOptions, type UploadMode } from './push.js';
