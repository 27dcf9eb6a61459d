/**
 * The daemon's persistent mount helper: one `nsutil serve` child (native/nsutil.c) that makes mount(2) and
 * umount2(2) calls on request, so that the hot paths (rootfs overlay, binds, unmounts of container and pod
 * teardown) fork no process per mount. Spawning from node blocks the event loop until the child has exec'd
 * (docs/performance.md), which under load cost more than the mount itself.
 *
 * Requests go one at a time down the helper's stdin and are answered in order on its stdout. When the helper
 * dies, the requests in flight are rejected with UnavailableError (callers fall back or report it) and the
 * next request starts a new helper. The helper is unref'd while idle, so it never keeps a process alive, and
 * it exits at the end of its input, i.e. with the daemon (and by PR_SET_PDEATHSIG if that fails).
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { addCost, costScope, errnoName, logger, profiling, UnavailableError } from '../util/index.js';
import { nativeHelper } from './native.js';
import { DEFAULT_PATH } from './spawn.js';

const log = logger('sys/mount-server');

/** The outcome of one call: errno 0 on success. */
export interface SyscallAnswer {
  errno: number;
  /** The errno's name (EINVAL, …), empty on success. */
  code: string;
  message: string;
}

interface Pending {
  resolve(a: SyscallAnswer): void;
  reject(err: Error): void;
  t0: number;
  name: string;
  /** The RPC that made the request (profiling only): answers arrive outside its async context. */
  scope: string | undefined;
}

type Helper = ChildProcessByStdio<Writable, Readable, null>;

class MountServer {
  private child: Helper | undefined;
  private readonly pending: Pending[] = [];
  private buffered = '';

  constructor(private readonly file: string) {}

  /** Sends one request (fields as documented in nsutil.c) and waits for its answer. */
  call(fields: readonly string[]): Promise<SyscallAnswer> {
    for (const f of fields) {
      if (f.includes('\0')) return Promise.reject(new UnavailableError('mount request field holds a NUL byte'));
    }
    const body = Buffer.from(fields.map((f) => `${f}\0`).join(''));
    if (body.length > 65536) return Promise.reject(new UnavailableError('mount request too long for the helper'));
    const child = this.ensure();
    const header = Buffer.alloc(4);
    header.writeUInt32LE(body.length);
    return new Promise<SyscallAnswer>((resolve, reject) => {
      this.pending.push({
        resolve,
        reject,
        t0: profiling ? performance.now() : 0,
        name: fields[0] ?? '',
        scope: costScope(),
      });
      if (this.pending.length === 1) this.ref(child, true);
      child.stdin.write(Buffer.concat([header, body]));
    });
  }

  /** The helper's pid while it runs (tests). */
  pid(): number | undefined {
    return this.child?.pid;
  }

  private ensure(): Helper {
    if (this.child) return this.child;
    const child = spawn(this.file, ['serve'], {
      stdio: ['pipe', 'pipe', 'ignore'],
      env: { PATH: DEFAULT_PATH },
      cwd: '/',
    });
    this.child = child;
    this.buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => this.onData(chunk));
    // Write errors (EPIPE after a crash) surface as the exit below; never as an unhandled 'error' event.
    child.stdin.on('error', () => undefined);
    child.on('error', (err) => this.lost(child, err));
    // 'close', not 'exit': answers written before the end are read first.
    child.on('close', (code, signal) => this.lost(child, new Error(`exited with ${signal ?? code}`)));
    this.ref(child, false);
    return child;
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      const p = this.pending.shift();
      if (!p) {
        log.warn({ line }, 'mount helper answered a request never made');
        continue;
      }
      if (this.pending.length === 0 && this.child) this.ref(this.child, false);
      if (profiling) addCost(`mount-server ${p.name}`, performance.now() - p.t0, p.scope);
      const sp = line.indexOf(' ');
      const errno = Number(sp < 0 ? line : line.slice(0, sp));
      if (!Number.isInteger(errno) || errno < 0) {
        p.reject(new UnavailableError(`mount helper answered "${line}"`));
        continue;
      }
      p.resolve({ errno, code: errno === 0 ? '' : errnoName(errno), message: sp < 0 ? '' : line.slice(sp + 1) });
    }
  }

  /** The helper is gone: every request in flight fails; the next call starts a new one. */
  private lost(child: Helper, why: Error): void {
    if (this.child !== child) return;
    this.child = undefined;
    const pending = this.pending.splice(0);
    if (pending.length > 0) log.warn({ err: why.message, pending: pending.length }, 'mount helper died');
    for (const p of pending) p.reject(new UnavailableError(`mount helper died: ${why.message}`));
  }

  /** Keeps the loop alive only while requests are in flight. */
  private ref(child: Helper, on: boolean): void {
    for (const h of [child, child.stdin, child.stdout] as Array<{ ref(): unknown; unref(): unknown }>) {
      if (on) h.ref();
      else h.unref();
    }
  }
}

let server: MountServer | null | undefined;

/** The daemon's mount helper, or undefined when nsutil is not built (callers then run util-linux). */
export function mountServer():
  | { call(fields: readonly string[]): Promise<SyscallAnswer>; pid(): number | undefined }
  | undefined {
  if (server === undefined) {
    const file = nativeHelper('nsutil');
    server = file ? new MountServer(file) : null;
  }
  return server ?? undefined;
}
