/**
 * Image manifests, indexes and configs: Docker v2 schema 2 and OCI, validated with zod. Registries send a
 * manifest with a Content-Type, and OCI documents also name their own `mediaType`; both must agree so a
 * registry cannot have one document read as another kind.
 */
import * as z from 'zod/mini';
import { InvalidArgumentError, UnimplementedError } from '../util/index.js';
import { isDigest } from './digest.js';

export const MediaType = {
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  DockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
} as const;

/** The Accept header of manifest requests: the four kinds we can read, preferred first. */
export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.DockerManifest,
].join(', ');

const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.OciIndex, MediaType.DockerManifestList]);
const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.OciManifest, MediaType.DockerManifest]);
const CONFIG_TYPES: ReadonlySet<string> = new Set([MediaType.OciConfig, MediaType.DockerConfig]);
const LAYER_TYPES: ReadonlySet<string> = new Set([
  MediaType.DockerLayerGzip,
  MediaType.DockerForeignLayerGzip,
  MediaType.OciLayer,
  MediaType.OciLayerGzip,
  MediaType.OciLayerZstd,
  MediaType.OciLayerNondistributable,
  MediaType.OciLayerNondistributableGzip,
  MediaType.OciLayerNondistributableZstd,
]);

/** True for media types of index-like documents (OCI index, Docker manifest list). */
export function isIndexMediaType(mediaType: string): boolean {
  return INDEX_TYPES.has(mediaType);
}

/** True for layer media types we can apply (tar, gzip or zstd; layer compression is sniffed anyway). */
export function isLayerMediaType(mediaType: string): boolean {
  return LAYER_TYPES.has(mediaType);
}

const digestSchema = z.string().check(z.refine(isDigest, { message: 'expected a sha256 digest' }));
const annotations = z.optional(z.record(z.string(), z.string()));

export const platformSchema = z.object({
  architecture: z.string(),
  os: z.string(),
  'os.version': z.optional(z.string()),
  'os.features': z.optional(z.array(z.string())),
  variant: z.optional(z.string()),
});
export type Platform = z.infer<typeof platformSchema>;

export const descriptorSchema = z.object({
  mediaType: z.string(),
  digest: digestSchema,
  size: z.number().check(z.int(), z.gte(0), z.lte(Number.MAX_SAFE_INTEGER)),
  urls: z.optional(z.array(z.string())),
  annotations,
  platform: z.optional(platformSchema),
});
/** A content descriptor: what a blob or manifest is, its digest and exact size. */
export type Descriptor = z.infer<typeof descriptorSchema>;

export const imageManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.optional(z.string()),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  annotations,
});
export type ImageManifest = z.infer<typeof imageManifestSchema>;

export const imageIndexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.optional(z.string()),
  manifests: z.array(descriptorSchema),
  annotations,
});
export type ImageIndex = z.infer<typeof imageIndexSchema>;

const strings = z.nullish(z.array(z.string()));
const emptyObjects = z.nullish(z.record(z.string(), z.unknown()));
export const imageConfigSchema = z.object({
  created: z.optional(z.string()),
  author: z.optional(z.string()),
  architecture: z.string(),
  os: z.string(),
  variant: z.optional(z.string()),
  config: z.nullish(
    z.object({
      User: z.nullish(z.string()),
      ExposedPorts: emptyObjects,
      Env: strings,
      Entrypoint: strings,
      Cmd: strings,
      Volumes: emptyObjects,
      WorkingDir: z.nullish(z.string()),
      Labels: z.nullish(z.record(z.string(), z.string())),
      StopSignal: z.nullish(z.string()),
    }),
  ),
  rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(digestSchema) }),
  history: z.optional(z.array(z.record(z.string(), z.unknown()))),
});

/** The image config, normalized: nulls of Docker-written configs become empty values. */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  user: string;
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  exposedPorts: string[];
  volumes: string[];
  labels: Record<string, string>;
  stopSignal?: string;
  /** sha256 of each uncompressed layer tar, base layer first. */
  diffIds: string[];
}

/** A parsed manifest document: either an index (choose a platform) or an image manifest. */
export type ManifestDocument =
  | { kind: 'index'; mediaType: string; index: ImageIndex }
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest };

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
  } catch (err) {
    throw new InvalidArgumentError(`${what} is not valid JSON`, { cause: err });
  }
}

function schemaError(what: string, err: z.core.$ZodError): InvalidArgumentError {
  const first = err.issues[0];
  const where = first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'invalid';
  return new InvalidArgumentError(`invalid ${what}: ${where}`, { cause: err });
}

function refuseSchema1(mediaType: string): void {
  if (mediaType === MediaType.DockerSchema1 || mediaType === MediaType.DockerSchema1Signed) {
    throw new UnimplementedError(`manifest media type "${mediaType}" (docker schema 1) is not supported`);
  }
}

/**
 * Parses manifest bytes. `contentType` is the HTTP Content-Type (or the descriptor's media type); when it is
 * missing or generic, the document's own `mediaType` or its shape decides. Schema 1 ⇒ UnimplementedError;
 * other unknown types, disagreeing types or invalid documents ⇒ InvalidArgumentError.
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): ManifestDocument {
  const header = contentType?.split(';')[0]?.trim().toLowerCase();
  const declared = header && header !== 'application/json' && header !== 'text/plain' ? header : undefined;
  if (declared) refuseSchema1(declared);
  const json = parseJson(bytes, 'manifest');
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidArgumentError('invalid manifest: not a JSON object');
  }
  const obj = json as Record<string, unknown>;
  const inner = typeof obj.mediaType === 'string' ? obj.mediaType : undefined;
  if (inner) refuseSchema1(inner);
  if (obj.schemaVersion === 1) throw new UnimplementedError('docker schema 1 manifests are not supported');
  if (declared && inner && declared !== inner) {
    throw new InvalidArgumentError(`manifest media type "${inner}" does not match content type "${declared}"`);
  }
  const mediaType = declared ?? inner ?? (Array.isArray(obj.manifests) ? MediaType.OciIndex : MediaType.OciManifest);
  if (INDEX_TYPES.has(mediaType)) {
    const parsed = imageIndexSchema.safeParse(json);
    if (!parsed.success) throw schemaError('image index', parsed.error);
    return { kind: 'index', mediaType, index: parsed.data };
  }
  if (MANIFEST_TYPES.has(mediaType)) {
    const parsed = imageManifestSchema.safeParse(json);
    if (!parsed.success) throw schemaError('image manifest', parsed.error);
    if (!CONFIG_TYPES.has(parsed.data.config.mediaType)) {
      throw new UnimplementedError(`image config media type "${parsed.data.config.mediaType}" is not supported`);
    }
    for (const layer of parsed.data.layers) {
      if (!LAYER_TYPES.has(layer.mediaType)) {
        throw new UnimplementedError(`layer media type "${layer.mediaType}" is not supported`);
      }
    }
    return { kind: 'manifest', mediaType, manifest: parsed.data };
  }
  throw new UnimplementedError(`manifest media type "${mediaType}" is not supported`);
}

/** Parses and normalizes an image config blob; InvalidArgumentError when it is not one. */
export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  const parsed = imageConfigSchema.safeParse(parseJson(bytes, 'image config'));
  if (!parsed.success) throw schemaError('image config', parsed.error);
  const c = parsed.data;
  const cfg = c.config ?? {};
  const out: ImageConfig = {
    architecture: c.architecture,
    os: c.os,
    user: cfg.User ?? '',
    env: cfg.Env ?? [],
    entrypoint: cfg.Entrypoint ?? [],
    cmd: cfg.Cmd ?? [],
    workingDir: cfg.WorkingDir ?? '',
    exposedPorts: Object.keys(cfg.ExposedPorts ?? {}),
    volumes: Object.keys(cfg.Volumes ?? {}),
    labels: cfg.Labels ?? {},
    diffIds: c.rootfs.diff_ids,
  };
  if (c.variant !== undefined) out.variant = c.variant;
  if (c.created !== undefined) out.created = c.created;
  if (c.author !== undefined) out.author = c.author;
  if (cfg.StopSignal) out.stopSignal = cfg.StopSignal;
  return out;
}
