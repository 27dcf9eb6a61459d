/**
 * Images and indexes: specs (what a fixture declares), the build (layers + config into the blob store) and the
 * manifests in either format. A built image is format-neutral; its manifest is rendered per format, so the
 * same layers and config can be served as Docker schema 2 and as OCI (their manifest digests differ).
 */
import { InvalidArgumentError } from '../../pkg/util/index.js';
import type { BlobStore, StoredBlob } from './blob-store.js';
import { type BuiltLayer, buildLayer, FIXED_TIME, type Layer } from './layer.js';

/** Manifest format of a push. */
export type ManifestFormat = 'docker' | 'oci';

/** Media types used by the builder. */
export const MediaType = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/** An OCI platform. */
export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

/** The runtime part of an image config (Docker/OCI field names). */
export interface RuntimeConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Volumes?: Record<string, Record<string, never>>;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

/** The image config JSON (`application/vnd.oci.image.config.v1+json`). */
export interface ImageConfig {
  created: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config: RuntimeConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history: Array<{ created: string; created_by: string; empty_layer?: boolean; comment?: string }>;
}

/** A single-platform image to build. */
export interface ImageSpec {
  kind: 'image';
  platform?: Platform;
  config: RuntimeConfig;
  layers: Layer[];
  created?: Date;
}

/** A multi-platform image: an OCI index / Docker manifest list over single-platform images. */
export interface IndexSpec {
  kind: 'index';
  images: ImageSpec[];
}

/** A built single-platform image: config and layers are in the store. */
export interface BuiltImage {
  kind: 'image';
  platform: Platform;
  config: ImageConfig;
  configBlob: StoredBlob;
  layers: BuiltLayer[];
}

/** A built multi-platform image. */
export interface BuiltIndex {
  kind: 'index';
  images: BuiltImage[];
}

/** A rendered manifest (image manifest or index), stored in the blob store. */
export interface ManifestBlob {
  mediaType: string;
  digest: string;
  size: number;
  bytes: Buffer;
}

const DEFAULT_PLATFORM: Platform = { architecture: 'amd64', os: 'linux' };

/**
 * Builds specs into one store. A `Layer` object shared by several specs is built once (the busybox base layer
 * is in nearly every fixture), so shared layers also have one digest.
 */
export class ImageBuilder {
  private readonly layers = new WeakMap<Layer, Promise<BuiltLayer>>();

  constructor(readonly store: BlobStore) {}

  /** Builds a spec of either kind. */
  async build(spec: ImageSpec | IndexSpec, signal?: AbortSignal): Promise<BuiltImage | BuiltIndex> {
    if (spec.kind === 'image') return this.image(spec, signal);
    if (spec.images.length === 0) throw new InvalidArgumentError('an index needs at least one image');
    const images: BuiltImage[] = [];
    for (const s of spec.images) images.push(await this.image(s, signal));
    return { kind: 'index', images };
  }

  /** Builds one single-platform image: every layer, then the config that names their diff_ids. */
  async image(spec: ImageSpec, signal?: AbortSignal): Promise<BuiltImage> {
    const layers: BuiltLayer[] = [];
    for (const l of spec.layers) layers.push(await this.layer(l, signal));
    const platform = spec.platform ?? DEFAULT_PLATFORM;
    const created = (spec.created ?? FIXED_TIME).toISOString();
    const config: ImageConfig = {
      created,
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: spec.config,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: [
        ...layers.map((l) => ({ created, created_by: l.createdBy })),
        // Real images carry config-only steps as empty_layer history; consumers must skip them.
        { created, created_by: `ucri hack/images: config ${JSON.stringify(spec.config)}`, empty_layer: true },
      ],
    };
    const configBlob = await this.store.putBytes('blob', JSON.stringify(config));
    return { kind: 'image', platform, config, configBlob, layers };
  }

  private layer(l: Layer, signal?: AbortSignal): Promise<BuiltLayer> {
    let p = this.layers.get(l);
    if (!p) {
      p = buildLayer(this.store, l, signal);
      this.layers.set(l, p);
    }
    return p;
  }
}

/** The layer media type of a compression in a format; Docker schema 2 has no zstd type. */
export function layerMediaType(layer: BuiltLayer, format: ManifestFormat): string {
  if (format === 'oci') {
    if (layer.compression === 'gzip') return MediaType.ociLayerGzip;
    if (layer.compression === 'zstd') return MediaType.ociLayerZstd;
    return MediaType.ociLayerTar;
  }
  if (layer.compression === 'gzip') return MediaType.dockerLayerGzip;
  if (layer.compression === 'none') return MediaType.dockerLayerTar;
  throw new InvalidArgumentError('docker schema 2 has no zstd layer media type: use the "oci" format');
}

/** Renders and stores the manifest of an image in a format. */
export async function imageManifest(
  store: BlobStore,
  image: BuiltImage,
  format: ManifestFormat,
): Promise<ManifestBlob> {
  const mediaType = format === 'oci' ? MediaType.ociManifest : MediaType.dockerManifest;
  const doc = {
    schemaVersion: 2,
    mediaType,
    config: {
      mediaType: format === 'oci' ? MediaType.ociConfig : MediaType.dockerConfig,
      digest: image.configBlob.digest,
      size: image.configBlob.size,
    },
    layers: image.layers.map((l) => ({ mediaType: layerMediaType(l, format), digest: l.digest, size: l.size })),
  };
  return storeManifest(store, mediaType, doc);
}

/** Renders and stores the index (OCI) or manifest list (Docker) of a multi-platform image, with its children. */
export async function indexManifest(
  store: BlobStore,
  index: BuiltIndex,
  format: ManifestFormat,
): Promise<{ index: ManifestBlob; children: ManifestBlob[] }> {
  const children: ManifestBlob[] = [];
  for (const image of index.images) children.push(await imageManifest(store, image, format));
  const mediaType = format === 'oci' ? MediaType.ociIndex : MediaType.dockerManifestList;
  const doc = {
    schemaVersion: 2,
    mediaType,
    manifests: children.map((c, i) => ({
      mediaType: c.mediaType,
      digest: c.digest,
      size: c.size,
      platform: index.images[i]?.platform,
    })),
  };
  return { index: await storeManifest(store, mediaType, doc), children };
}

async function storeManifest(store: BlobStore, mediaType: string, doc: unknown): Promise<ManifestBlob> {
  const bytes = Buffer.from(JSON.stringify(doc, null, 2));
  const blob = await store.putBytes('blob', bytes);
  return { mediaType, digest: blob.digest, size: blob.size, bytes };
}
