/**
 * The image side of the contract: what the CRI ImageService needs from the image store (the Mesos
 * provisioner's docker and appc stores). Image ids are the config digest (`sha256:<hex>`), as containerd
 * and CRI-O report them; references are always normalized (`docker.io/library/busybox:latest`).
 */

/** The runtime-relevant part of an image config (Docker/OCI config or AppC manifest). */
export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
  /** `KEY=value` strings, in image order. */
  env: string[];
  workingDir: string;
  /** As written in the image: `""`, `1002`, `1002:1003`, `www-data`, `www-data:staff`. */
  user: string;
  exposedPorts: string[];
  volumes: string[];
  labels: Record<string, string>;
  /** E.g. `SIGQUIT` or `3`; empty when the image sets none. */
  stopSignal: string;
}

/** An image config that sets nothing (a container whose image record is gone, test doubles). */
export function emptyImageConfig(): ImageConfig {
  return {
    entrypoint: [],
    cmd: [],
    env: [],
    workingDir: '',
    user: '',
    exposedPorts: [],
    volumes: [],
    labels: {},
    stopSignal: '',
  };
}

/** One image in the store. */
export interface ImageRecord {
  /** Config digest, `sha256:<hex>`. */
  id: string;
  /** Normalized `host/repo:tag` names pointing at this image. */
  repoTags: string[];
  /** Normalized `host/repo@sha256:<manifest digest>` names. */
  repoDigests: string[];
  /** Bytes the image takes (sum of its compressed layers, as registries and crictl report it). */
  size: number;
  config: ImageConfig;
  /** Image format the store holds it in. */
  kind: 'docker' | 'appc';
  /** Pinned images are never garbage-collected by kubelet (e.g. the pause image). */
  pinned: boolean;
  /** Diff ids (uncompressed layer digests) from base to top. */
  layers: string[];
  /** Manifest digest the image was pulled at (for verbose info). */
  manifestDigest: string;
  pulledAt: number;
}

/** Registry credentials as the CRI AuthConfig carries them. */
export interface Credentials {
  username?: string;
  password?: string;
  /** base64 `user:password`. */
  auth?: string;
  identityToken?: string;
  registryToken?: string;
  serverAddress?: string;
}

/** Pull progress: bytes downloaded of the known total, layers extracted of all layers. */
export interface PullProgress {
  downloadedBytes: number;
  totalBytes: number;
  extractedLayers: number;
  totalLayers: number;
  /** A human-readable step: `resolving`, `downloading`, `extracting`, `done`. */
  phase: string;
}

/** Usage of the filesystem that holds the image store. */
export interface ImageFsUsage {
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
  timestampNs: bigint;
}

/**
 * The image store as the CRI ImageService uses it. Every method tolerates concurrent callers: pulls of the
 * same image share one download; a remove while a container uses the image keeps the layers that container
 * needs until it is gone.
 */
export interface ImageManager {
  /**
   * Pulls `ref` (normalized here) and returns the stored image. Cheap when the manifest digest is already
   * present; a tag that moved is re-pointed. Errors: InvalidArgument (bad reference), NotFound (no such
   * image), Unauthenticated/PermissionDenied (credentials), Unavailable (registry unreachable), Internal
   * (digest mismatch, unsupported media type), ResourceExhausted (disk full).
   */
  pull(
    ref: string,
    opts: { credentials?: Credentials; signal?: AbortSignal; onProgress?: (p: PullProgress) => void },
  ): Promise<ImageRecord>;
  /**
   * The image a reference, id (full or unique prefix) or digest names; undefined when absent. The record may be
   * shared with other callers and frozen (the image store's are): never modify it.
   */
  get(refOrId: string): Promise<ImageRecord | undefined>;
  /** Every image, in an array the caller owns, of records as `get` returns them. */
  list(): Promise<ImageRecord[]>;
  /**
   * Removes what `refOrId` names: a tag or digest reference removes only that name (the image goes when it
   * has no names left); an id removes the image with all its names. Absent images are not an error.
   */
  remove(refOrId: string): Promise<void>;
  /** Usage of the image filesystem. */
  fsInfo(): Promise<ImageFsUsage>;
}
