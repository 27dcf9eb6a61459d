/**
 * dockerd's stream framing. Without a TTY, attach, exec and logs multiplex stdout and stderr on one byte
 * stream: each frame is an 8-byte header (stream type: 0 stdin, 1 stdout, 2 stderr; three zero bytes; a
 * big-endian uint32 length) followed by that many bytes. With a TTY the stream is raw output.
 */
import { PassThrough, type Readable } from 'node:stream';

export type StreamKind = 'stdout' | 'stderr';

/** An incremental decoder of the 8-byte framing; feed it chunks, it calls `onFrame` per whole frame. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (kind: StreamKind, data: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + len) return;
      const type = this.buf[0];
      const data = this.buf.subarray(8, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      // Type 0 (stdin echo) never carries output we report; treat unknown types as stdout.
      if (type === 2) this.onFrame('stderr', data);
      else if (type !== 0) this.onFrame('stdout', data);
    }
  }

  /** Bytes of an incomplete frame left at the end of the stream. */
  pending(): number {
    return this.buf.length;
  }
}

/** Encodes one frame (tests, and tools that speak the framing back). */
export function encodeFrame(kind: StreamKind, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head[0] = kind === 'stderr' ? 2 : 1;
  head.writeUInt32BE(data.length, 4);
  return Buffer.concat([head, data]);
}

/** Splits a multiplexed stream into stdout and stderr streams that end when it ends. */
export function demux(src: Readable): { stdout: PassThrough; stderr: PassThrough } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const dec = new FrameDecoder((kind, data) => (kind === 'stderr' ? stderr : stdout).write(data));
  src.on('data', (c: Buffer) => dec.push(c));
  const end = (): void => {
    stdout.end();
    stderr.end();
  };
  src.once('end', end);
  src.once('close', end);
  src.once('error', end);
  return { stdout, stderr };
}

/** Splits a stream of newline-delimited JSON (events, pull progress) into parsed objects. */
export async function* jsonLines<T>(src: Readable): AsyncGenerator<T> {
  let rest = '';
  for await (const chunk of src) {
    rest += (chunk as Buffer).toString('utf8');
    let nl = rest.indexOf('\n');
    while (nl >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line.length > 0) yield JSON.parse(line) as T;
      nl = rest.indexOf('\n');
    }
  }
  if (rest.trim().length > 0) yield JSON.parse(rest) as T;
}
