/**
 * pkg/image: the daemonless image library under the provisioner's docker store. References and digests,
 * Docker v2 schema 2 / OCI manifests and indexes with platform selection, image configs, a registry client
 * (token auth, mirrors, insecure registries, verified blobs), pull concurrency helpers, and safe layer
 * application for the overlay and copy backends.
 */
export {
  type ImageReference,
  DOCKER_DOMAIN,
  parseReference,
  formatReference,
  repositoryName,
  tagReference,
  digestReference,
  familiarName,
  manifestSelector,
} from './reference.js';
export {
  type DigestResult,
  DigestMismatchError,
  DigestVerifier,
  digestHex,
  isDigest,
  parseDigest,
  sha256Digest,
} from './digest.js';
export {
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type ManifestDocument,
  type Platform,
  MANIFEST_ACCEPT,
  MediaType,
  isIndexMediaType,
  isLayerMediaType,
  parseImageConfig,
  parseManifest,
} from './manifest.js';
export { defaultPlatform, formatPlatform, normalizePlatform, platformScore, selectManifest } from './platform.js';
export {
  type FetchedManifest,
  type RegistryOptions,
  type RequestOptions,
  RegistryClient,
} from './registry/client.js';
export {
  type CredentialLookup,
  type Credentials,
  credentialsFromJson,
  loadCredentialsFile,
} from './registry/credentials.js';
export { type Endpoint, type MirrorConfig, isLoopbackHost } from './registry/endpoints.js';
export { HttpAgents } from './registry/http.js';
export { type ResolveImageOptions, type ResolvedImage, resolveImage } from './resolve.js';
export { Limiter, SharedFlight } from './flight.js';
export { type ApplyOptions, type ApplyResult, type LayerFormat, applyLayer } from './layer/apply.js';
export { type Compression, sniffCompression } from './layer/decompress.js';
export type { RemoteBlob } from './layer/remote.js';
export { type LayerApplier, LayerWorker, LayerWorkerPool, type RemoteApplyOptions } from './layer/worker.js';
