/**
 * The relay between a layer blob as it downloads (verified by pkg/image while it streams) and the extractor:
 * it counts bytes for progress and makes sure a verification error reaches the extractor.
 */
import { Readable } from 'node:stream';

/**
 * A relay that reports every chunk's size (download progress) and hands a source error to the reader at once,
 * dropping whatever is still buffered: once the blob failed verification its bytes are worthless, and holding
 * the error until the reader drains the buffer can lose it (a read already pending when the error comes is
 * never repeated, and the pull would wait forever). Only while nobody listens for 'error' is it held (emitting
 * it then would crash the daemon): a small blob can arrive, fail verification and error in one go before the
 * reader (pkg/image's decompressor) has attached its listener; it gets the error as soon as it does.
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
      this.handOver();
    });
    this.on('newListener', (event: string) => {
      if (event === 'error' && this.failure) process.nextTick(() => this.handOver());
    });
    src.pause();
  }

  private handOver(): void {
    if (this.failure && !this.destroyed && this.listenerCount('error') > 0) this.destroy(this.failure);
  }

  override _read(): void {
    if (this.failure) this.handOver();
    else this.src.resume();
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
