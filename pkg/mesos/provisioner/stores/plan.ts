/**
 * What a puller (registry, local directory, appc) hands the store: the image's identity, names, config,
 * the small blobs to keep, and one opener per layer. The store downloads and extracts the layers it lacks,
 * then commits the image to the index; pullers never write to the store themselves.
 */
import { Readable } from 'node:stream';
import type { ImageConfig as RuntimeConfig } from '../../../containerizer/index.js';
import type { ImageConfig } from '../../../image/index.js';
import type { LayerOpener } from './layer-store.js';

export interface PlannedLayer {
  /** The diff_id (uncompressed digest); undefined when only known after extraction (ACI rootfs). */
  diffId: string | undefined;
  /** Bytes to transfer (compressed size), for progress and the image size. */
  size: number;
  open: LayerOpener;
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

/**
 * A relay that reports every chunk's size (download progress) and holds back a source error until the
 * reader has taken the data before it. Why: a small blob can arrive, fail verification and error in one
 * go while the reader (pkg/image's decompressor, which peeks at the magic bytes first) has not attached its
 * error listener yet; an error emitted then would be lost and the extraction would wait forever.
 */
class CountingRelay extends Readable {
  private failure: Error | undefined;

  constructor(
    private readonly src: Readable,
    onBytes: (n: number) => void,
  ) {
    super();
    src.on('data', (chunk: Buffer) => {
      onBytes(chunk.length);
      if (!this.push(chunk)) src.pause();
    });
    src.on('end', () => this.push(null));
    src.on('error', (err: Error) => {
      this.failure = err;
      if (this.readableLength === 0 && this.listenerCount('error') > 0) this.destroy(err);
    });
    src.pause();
  }

  override _read(): void {
    if (this.failure) {
      this.destroy(this.failure);
      return;
    }
    this.src.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.src.destroy();
    cb(err);
  }
}

/** Wraps a layer stream to count its bytes (see CountingRelay for the error hand-over). */
export function counting(input: Readable, onBytes: (n: number) => void): Readable {
  return new CountingRelay(input, onBytes);
}
