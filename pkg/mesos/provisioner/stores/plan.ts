/**
 * What a puller (registry, local directory, appc) hands the store: the image's identity, names, config,
 * the small blobs to keep, and one opener per layer. The store downloads and extracts the layers it lacks,
 * then commits the image to the index; pullers never write to the store themselves.
 */
import type { ImageConfig as RuntimeConfig } from '../../../containerizer/index.js';
import type { ImageConfig } from '../../../image/index.js';
import type { LayerOpener, RemoteOpener } from './layer-store.js';

export interface PlannedLayer {
  /** The diff_id (uncompressed digest); undefined when only known after extraction (ACI rootfs). */
  diffId: string | undefined;
  /** Bytes to transfer (compressed size), for progress and the image size. */
  size: number;
  open: LayerOpener;
  /** For the layer worker: the blob as it fetches it itself (registry layers); `open` stays the fallback. */
  remote?: RemoteOpener;
}

export interface PullPlan {
  /** Image id: the config digest (docker) or the ACI digest (appc). */
  id: string;
  kind: 'docker' | 'appc';
  repoTags: string[];
  repoDigests: string[];
  config: RuntimeConfig;
  manifestDigest: string;
  /** Small blobs to keep under blobs/: manifest, config, ACI manifest. */
  blobs: Array<{ digest: string; bytes: Buffer }>;
  layers: PlannedLayer[];
  /** Compressed layer digests, base first, when known. */
  layerDigests: string[];
  source: string;
  /** Image size as CRI reports it; the sum of layer sizes when 0. */
  size: number;
}

/** The runtime part of a Docker/OCI image config, as the containerizer contract types it. */
export function runtimeConfig(c: ImageConfig): RuntimeConfig {
  return {
    entrypoint: c.entrypoint,
    cmd: c.cmd,
    env: c.env,
    workingDir: c.workingDir,
    user: c.user,
    exposedPorts: c.exposedPorts,
    volumes: c.volumes,
    labels: c.labels,
    stopSignal: c.stopSignal ?? '',
  };
}
