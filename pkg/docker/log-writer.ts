/**
 * CRI log files for Docker containers. dockerd keeps each container's output (json-file driver); ucri
 * follows it through `GET /containers/{id}/logs?follow&timestamps` and writes the CRI format kubelet reads
 * at the container's `log_path`:
 *
 *   <RFC3339Nano> <stdout|stderr> <P|F> <text>
 *
 * (F: the message ended a line; P: dockerd split a long line, more follows). Each message carries dockerd's
 * own timestamp, so the follower resumes after a ucri or dockerd restart with `since` = the timestamp of
 * the last line in the file, skipping messages at or before it: no loss, no duplicates.
 */
import { createWriteStream, promises as fs, type WriteStream } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { errorMessage, isKind, logger } from '../util/index.js';
import type { EngineApi } from './api.js';
import { FrameDecoder, type StreamKind } from './streams.js';
import { parseTimeNs } from './translate.js';

const log = logger('docker/logs');

/**
 * Where a CRI log file ends: the timestamp of its last line ('' when empty or absent) and how many lines at
 * its end carry that same timestamp (the parts of a line dockerd split share one).
 */
export async function logResumePoint(file: string): Promise<{ ts: string; sameTs: number }> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch {
    return { ts: '', sameTs: 0 };
  }
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, 256 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const stamps = buf
      .toString('utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => l.split(' ', 1)[0] ?? '');
    const ts = stamps[stamps.length - 1] ?? '';
    let sameTs = 0;
    for (let i = stamps.length - 1; i >= 0 && stamps[i] === ts; i--) sameTs++;
    return { ts, sameTs: ts ? sameTs : 0 };
  } finally {
    await fh.close();
  }
}

/** The timestamp of the last line of a CRI log file, '' when empty or absent. */
export async function lastLogTimestamp(file: string): Promise<string> {
  return (await logResumePoint(file)).ts;
}

/** Follows one container's output into its CRI log file until stopped or the container's stream ends. */
export class LogFollower {
  private out: WriteStream | undefined;
  private stream: Readable | undefined;
  private stopped = false;
  /** Ends the follow wherever stop() finds it: before the logs call, while it waits for dockerd's answer, or
   * while its body streams (until the stream is assigned, destroying it cannot reach the call). */
  private readonly abort = new AbortController();
  /** Resume point: messages before it, and the first `skipSame` at it, are already in the file. */
  private resumeNs = 0n;
  private skipSame = 0;
  private done: Promise<void> | undefined;

  constructor(
    private readonly api: EngineApi,
    private readonly dockerId: string,
    private readonly file: string,
    private readonly tty: boolean,
  ) {}

  /** Starts following (resuming after the file's last line). Returns at once. */
  start(): void {
    this.done = this.run().catch((err: unknown) => {
      if (!this.stopped) log.warn({ id: this.dockerId, err: errorMessage(err) }, 'log follower ended');
    });
  }

  /** Resolves when the stream ended (the container exited and its output is all written). */
  finished(): Promise<void> {
    return this.done ?? Promise.resolve();
  }

  private async run(): Promise<void> {
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    const at = await logResumePoint(this.file);
    if (this.stopped) return;
    this.resumeNs = parseTimeNs(at.ts);
    this.skipSame = at.sameTs;
    this.out = createWriteStream(this.file, { flags: 'a' });
    // A follow stream ends when the container stops or dockerd goes away; after a dockerd restart
    // (live-restore) the caller starts a new follower, which resumes from the file.
    try {
      this.stream = await this.api.logs(this.dockerId, { follow: true, since: this.sinceParam() }, this.abort.signal);
    } catch (err) {
      if (isKind(err, 'NotFound')) return;
      throw err;
    }
    const onMessage = (kind: StreamKind, data: Buffer): void => this.write(kind, data);
    if (this.tty) {
      let rest = '';
      for await (const chunk of this.stream) {
        rest += (chunk as Buffer).toString('utf8');
        let nl = rest.indexOf('\n');
        while (nl >= 0) {
          onMessage('stdout', Buffer.from(rest.slice(0, nl + 1)));
          rest = rest.slice(nl + 1);
          nl = rest.indexOf('\n');
        }
      }
    } else {
      const dec = new FrameDecoder(onMessage);
      for await (const chunk of this.stream) dec.push(chunk as Buffer);
    }
    await this.closeOut();
  }

  /** `since` for the logs call: the last written second (dockerd filters by whole seconds + fraction). */
  private sinceParam(): string {
    if (this.resumeNs === 0n) return '';
    const secs = this.resumeNs / 1_000_000_000n;
    const frac = (this.resumeNs % 1_000_000_000n).toString().padStart(9, '0');
    return `${secs}.${frac}`;
  }

  /** One message: `<ts> <text>`, its text ending in a newline unless dockerd split the line. */
  private write(kind: StreamKind, data: Buffer): void {
    const text = data.toString('utf8');
    const sp = text.indexOf(' ');
    if (sp < 0) return;
    const ts = text.slice(0, sp);
    const ns = parseTimeNs(ts);
    // Already written before a restart: dockerd's `since` includes the boundary, and the parts of a split
    // line share a timestamp, so the lines at the boundary are counted off rather than compared.
    if (this.resumeNs !== 0n) {
      if (ns < this.resumeNs) return;
      if (ns === this.resumeNs && this.skipSame > 0) {
        this.skipSame--;
        return;
      }
      this.resumeNs = 0n;
    }
    let body = text.slice(sp + 1);
    const full = body.endsWith('\n');
    if (full) body = body.slice(0, -1);
    this.out?.write(`${ts} ${kind} ${full ? 'F' : 'P'} ${body}\n`);
  }

  private async closeOut(): Promise<void> {
    const out = this.out;
    this.out = undefined;
    if (out) await new Promise<void>((resolve) => out.end(() => resolve()));
  }

  /** Reopens the file (kubelet rotated it): later lines go to a new file at the same path. */
  async reopen(): Promise<void> {
    const old = this.out;
    if (!old) return;
    this.out = createWriteStream(this.file, { flags: 'a' });
    await new Promise<void>((resolve) => old.end(() => resolve()));
  }

  /** Stops following (container removed, ucri stopping); what was received is flushed. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.stream?.destroy();
    await this.done;
    await this.closeOut();
  }
}
