/**
 * conmon's sync pipe protocol (API version 1): conmon writes one JSON object per line,
 * `{"data": N}` or `{"data": N, "message": "…"}`. For a create, N is the container pid, or negative with
 * the runtime's stderr as message when the create failed. For an exec the first object carries the pid,
 * the second the exit code (−1 with "command timed out" when conmon's own timeout fired).
 */
import type { Readable } from 'node:stream';
import { InternalError } from '../util/index.js';

export interface SyncMessage {
  data: number;
  message?: string;
}

/** Reads JSON lines from a stream, in order; `next()` rejects once the stream ends without another line. */
export class SyncReader {
  private buf = '';
  private readonly queue: SyncMessage[] = [];
  private waiting: { resolve: (m: SyncMessage) => void; reject: (e: unknown) => void } | undefined;
  private ended: unknown;

  constructor(stream: Readable) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.buf += chunk;
      for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (line !== '') this.push(line);
      }
      if (this.buf.length > 1 << 20) this.fail(new InternalError('conmon sync pipe line too long'));
    });
    stream.on('end', () => this.fail(new InternalError('conmon closed its sync pipe without reporting')));
    stream.on('close', () => this.fail(new InternalError('conmon closed its sync pipe without reporting')));
    stream.on('error', (err) => this.fail(new InternalError('conmon sync pipe failed', { cause: err })));
  }

  private push(line: string): void {
    let msg: SyncMessage;
    try {
      const v = JSON.parse(line) as { data?: unknown; message?: unknown };
      if (typeof v.data !== 'number') throw new Error('no numeric "data"');
      msg = { data: v.data, message: typeof v.message === 'string' ? v.message : undefined };
    } catch (err) {
      this.fail(new InternalError(`conmon sent a malformed sync message "${line.slice(0, 200)}"`, { cause: err }));
      return;
    }
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve(msg);
    } else this.queue.push(msg);
  }

  private fail(err: unknown): void {
    this.ended ??= err;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w.reject(this.ended);
    }
  }

  /** The next message. */
  next(): Promise<SyncMessage> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    if (this.ended !== undefined) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }
}
