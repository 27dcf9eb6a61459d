/**
 * Layer decompression by content, not by media type: registries and `docker save` archives mislabel layers
 * often enough that the magic bytes are the only reliable signal. gzip uses zlib; zstd (absent from Node 20)
 * runs the `zstd` program, whose exit status is awaited before the output is declared complete so a corrupt
 * frame can never pass as a shorter, valid-looking tar.
 */
import { spawn } from 'node:child_process';
import { PassThrough, type Readable, Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { FailedPreconditionError, InvalidArgumentError } from '../../util/index.js';

export type Compression = 'gzip' | 'zstd' | 'none';

const GUNZIP_CHUNK = 1 << 20;
/**
 * Input handed to zlib at a time. zlib inflates each chunk written to it in the thread pool, and a socket gives
 * 64 KiB at most per read: one round trip per 64 KiB, each waking a pool thread and then the caller's loop,
 * which on this project's VMs cost more than the inflate itself (docs/performance.md, "PullImage, phase 17").
 */
const GUNZIP_INPUT = 1 << 20;

/** Recognizes gzip (1f 8b) and zstd (28 b5 2f fd) frames; anything else is taken as plain tar. */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/** Waits until `n` bytes (or the end) are buffered in `input`, returns them and puts them back. */
async function peek(input: Readable, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  while (size < n) {
    const chunk = input.read() as Buffer | null;
    if (chunk !== null) {
      chunks.push(chunk);
      size += chunk.length;
      continue;
    }
    if (input.readableEnded || input.destroyed) break;
    const ended = await new Promise<boolean>((resolve, reject) => {
      const done = (value: boolean, err?: unknown): void => {
        input.off('readable', onReadable);
        input.off('end', onEnd);
        input.off('error', onError);
        input.off('close', onEnd);
        if (err) reject(err);
        else resolve(value);
      };
      const onReadable = (): void => done(false);
      const onEnd = (): void => done(true);
      const onError = (err: Error): void => done(true, err);
      input.on('readable', onReadable);
      input.on('end', onEnd);
      input.on('error', onError);
      input.on('close', onEnd);
    });
    if (ended) break;
  }
  const head = Buffer.concat(chunks);
  if (head.length > 0) input.unshift(head);
  return head;
}

function zstdDecompress(input: Readable, signal?: AbortSignal): Readable {
  const out = new PassThrough();
  const child = spawn('zstd', ['-dcq'], { stdio: ['pipe', 'pipe', 'pipe'], signal });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  child.on('error', (err: NodeJS.ErrnoException) => {
    const e =
      err.code === 'ENOENT'
        ? new FailedPreconditionError('the "zstd" program is required for zstd layers', { cause: err })
        : err;
    out.destroy(e);
  });
  child.stdout.pipe(out, { end: false });
  // stdin EPIPE when zstd quits early on a corrupt frame is reported through the exit status; errors of the
  // source itself (a digest mismatch) pass through unchanged.
  input.on('error', (err) => out.destroy(err));
  child.stdin.on('error', () => {});
  input.pipe(child.stdin);
  child.on('close', (code, sig) => {
    if (code === 0) out.end();
    else if (!out.destroyed) {
      out.destroy(new InvalidArgumentError(`zstd layer is corrupt: ${stderr.trim() || `exit ${code ?? sig}`}`));
    }
  });
  out.on('close', () => {
    input.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return out;
}

/**
 * Returns the decompressed stream of a layer blob and the compression found. Corrupt input makes the returned
 * stream fail with InvalidArgumentError; a missing zstd program with FailedPreconditionError.
 */
export async function decompress(
  input: Readable,
  signal?: AbortSignal,
): Promise<{ stream: Readable; compression: Compression }> {
  // A small blob can arrive whole and fail verification (its digest checked at the end) while we peek,
  // before the pipelines below listen: hold on to such an error instead of losing it.
  // The listener stays: `errored` can be set while its 'error' event is still queued for the next tick,
  // and an 'error' event nobody listens to would take the daemon down.
  let early: unknown;
  input.on('error', (err: unknown) => {
    early ??= err;
  });
  const head = await peek(input, 4);
  const failed = early ?? input.errored;
  if (failed) throw failed;
  const compression = sniffCompression(head);
  if (compression === 'none') return { stream: input, compression };
  if (compression === 'zstd') return { stream: zstdDecompress(input, signal), compression };
  const out = new PassThrough();
  // zlib's default 16 KiB output chunk costs a thread-pool round trip and a trip down the tar pipeline per
  // 16 KiB: with 1 MiB chunks a 51 MB pull used ~20% less CPU (docs/performance.md, PullImage phase 4).
  const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK });
  const coalesce = new Coalesce(GUNZIP_INPUT);
  // Errors of the source (a digest mismatch, a reset download) pass through as they are; zlib's own are
  // about the layer's content.
  input.on('error', (err) => out.destroy(err));
  gunzip.on('error', (err) =>
    out.destroy(new InvalidArgumentError(`gzip layer is corrupt: ${err.message}`, { cause: err })),
  );
  out.on('close', () => {
    input.destroy();
    coalesce.destroy();
    gunzip.destroy();
  });
  input.pipe(coalesce).pipe(gunzip).pipe(out);
  return { stream: out, compression };
}

/**
 * Passes bytes on in chunks of at least `size` (the last one may be shorter), joining the smaller ones it gets.
 * What it holds is at most `size` plus one incoming chunk; the input's order and bytes are kept exactly.
 */
export class Coalesce extends Transform {
  private parts: Buffer[] = [];
  private held = 0;

  constructor(private readonly size: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.parts.push(chunk);
    this.held += chunk.length;
    if (this.held >= this.size) cb(null, this.joined());
    else cb();
  }

  override _flush(cb: TransformCallback): void {
    if (this.held > 0) cb(null, this.joined());
    else cb();
  }

  private joined(): Buffer {
    const out = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.held);
    this.parts = [];
    this.held = 0;
    return out;
  }
}
