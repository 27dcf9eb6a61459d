/**
 * The daemon's process starter: one long-lived native/spawner (C) that forks and execs children on request,
 * so that starting a child does not fork the daemon. libuv's spawn forks the whole daemon (~80 MiB of
 * mappings) and blocks the event loop until the child has exec'd: 2–4 ms per child at a load of 4 on two cores
 * (docs/performance.md, "Spawning children, phase 5"), and every other request waits that long.
 *
 * The spawner is started once with a node IPC channel (an inherited socketpair, nothing on the file system)
 * and stays the parent of the children it starts: it reaps them and reports their exit. A child's stdio are
 * socketpairs, as node's own 'pipe' gives; the daemon's ends come over the channel as `net.Socket` handles
 * (SCM_RIGHTS). Children are signalled through the spawner, which knows whether the pid is still its unreaped
 * child, so a signal never reaches a recycled pid.
 *
 * When the spawner dies, children it had not yet reported started fail (their request may have run, so they
 * are not retried); of children already running, run() fails with Unavailable naming the command and pid, and
 * start()'s callers see an `exit` with code and signal null (pid logged). None is killed, so a conmon or runc
 * they started carries on. The next request starts a new spawner. Without the native helper, or for stdio it cannot give (streams, 'inherit'),
 * callers get node's spawn (pkg/sys/spawn.ts decides).
 */
import { type ChildProcess, spawn as nodeSpawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { logger, UnavailableError } from '../util/index.js';
import { nativeHelper } from './native.js';

const log = logger('sys/spawner');

/** What a caller of start() may use of a child: node's ChildProcess, or a spawner child with the same members. */
export interface Child extends Pick<EventEmitter, 'on' | 'once' | 'off'> {
  readonly pid?: number | undefined;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** stdin, stdout, stderr, then the extra fds (3, 4, …) of the stdio option. */
  readonly stdio: ReadonlyArray<Readable | Writable | null | undefined>;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  /** True when the child ended for us without a status: its spawner died (exitCode and signalCode stay null). */
  readonly statusUnknown?: boolean;
  kill(signal?: NodeJS.Signals | number): boolean;
  ref(): void;
  unref(): void;
}

/** Stdio the spawner gives: per fd, /dev/null or a socketpair whose other end comes back as a stream. */
export type SimpleStdio = ReadonlyArray<'ignore' | 'pipe'>;

export interface SpawnRequest {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  stdio: SimpleStdio;
  detached?: boolean;
}

/** Largest request (base64 on the channel) the spawner reads. */
const MAX_REQUEST = 700 * 1024;

type Message =
  | { t: 'fd'; id: number; fd: number }
  | { t: 'pid'; id: number; pid: number }
  | { t: 'err'; id: number; errno: number; step: string }
  | { t: 'exit'; id: number; code: number; sig: number }
  | { t: 'bad'; id: number };

/** A child started by the spawner: the members of ChildProcess that ucri's callers use, with node's events. */
class SpawnedChild extends EventEmitter {
  pid: number | undefined = undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  statusUnknown = false;
  readonly stdio: Array<Socket | null>;
  private refd = true;
  private openStreams = 0;
  private exited = false;

  constructor(
    private readonly owner: Spawner,
    readonly id: number,
    readonly command: string,
    fds: number,
  ) {
    super();
    this.stdio = new Array<Socket | null>(fds).fill(null);
  }

  get stdin(): Writable | null {
    return this.stdio[0] ?? null;
  }
  get stdout(): Readable | null {
    return this.stdio[1] ?? null;
  }
  get stderr(): Readable | null {
    return this.stdio[2] ?? null;
  }

  /** Signals the child through the spawner (by its pid, only while it is unreaped). */
  kill(sig: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (this.exited) return false;
    const num = typeof sig === 'number' ? sig : SIGNALS[sig];
    if (num === undefined) return false;
    return this.owner.kill(this.id, num);
  }

  ref(): void {
    if (!this.refd && !this.exited) this.owner.hold(1);
    this.refd = true;
  }

  unref(): void {
    if (this.refd && !this.exited) this.owner.hold(-1);
    this.refd = false;
  }

  /** @internal */ gotStream(fd: number, socket: Socket): void {
    if (fd < 0 || fd >= this.stdio.length || this.stdio[fd]) {
      socket.destroy();
      return;
    }
    holdReads(socket);
    this.stdio[fd] = socket;
    this.openStreams++;
    socket.once('close', () => {
      this.openStreams--;
      this.maybeClose();
    });
  }

  /** @internal */ gotExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = true;
    if (this.refd) this.owner.hold(-1);
    this.exitCode = code;
    this.signalCode = signal;
    this.statusUnknown = code === null && signal === null;
    // As node does: the child's stdin goes with it, and output nobody reads is drained so 'close' can come.
    this.stdio[0]?.destroy();
    for (const s of this.stdio.slice(1)) {
      if (s && s.listenerCount('data') === 0 && s.listenerCount('readable') === 0) s.resume();
    }
    this.emit('exit', code, signal);
    this.maybeClose();
  }

  /** @internal */ failed(err: Error): void {
    if (this.exited) return;
    this.exited = true;
    if (this.refd) this.owner.hold(-1);
    for (const s of this.stdio) s?.destroy();
    this.emit('error', err);
  }

  private maybeClose(): void {
    if (this.exited && this.openStreams === 0 && this.pid !== undefined) {
      this.emit('close', this.exitCode, this.signalCode);
    }
  }
}

/**
 * Stops a received socket from reading until someone consumes it, as `new net.Socket({ pauseOnCreate })`
 * does (node's IPC hands sockets over already reading). A child's output can reach its socket before the
 * spawner reports the child started; read eagerly, an early end of file would emit 'end' and 'close'
 * before the caller of start() has had the child to listen to (node's own spawn is safe only because its
 * 'spawn' event comes before any I/O is processed).
 */
function holdReads(socket: Socket): void {
  const inner = socket as unknown as {
    _handle?: { reading?: boolean; readStop?: () => number };
    _readableState?: { reading?: boolean };
  };
  if (inner._handle?.readStop && inner._readableState) {
    inner._handle.reading = false;
    inner._handle.readStop();
    // The read the constructor started is over: the first consumer's read() starts the handle again.
    inner._readableState.reading = false;
  }
}

/** Signal numbers from node's own table. */
const SIGNALS = osConstants.signals as Record<string, number | undefined>;
const SIGNAL_NAMES = new Map(Object.entries(SIGNALS).map(([k, v]) => [v, k as NodeJS.Signals]));

class Spawner {
  private proc: ChildProcess | undefined;
  private nextId = 1;
  private readonly children = new Map<number, SpawnedChild>();
  /** Children that keep the daemon's loop alive (ref'd and not yet ended). */
  private held = 0;

  constructor(private readonly file: string) {}

  spawn(file: string, args: readonly string[], req: SpawnRequest, command: string): SpawnedChild {
    const env = Object.entries(req.env)
      .filter((e): e is [string, string] => e[1] !== undefined)
      .map(([k, v]) => `${k}=${v}`);
    const fields = [
      'spawn',
      '',
      req.detached ? 'd' : '',
      req.stdio.map((s) => (s === 'pipe' ? 'p' : 'i')).join(''),
      req.cwd ?? '',
      file,
      String(args.length + 1),
      file,
      ...args,
      String(env.length),
      ...env,
    ];
    for (const f of fields) {
      // node's spawn refuses the same (ERR_INVALID_ARG_VALUE), synchronously.
      if (f.includes('\0')) throw new TypeError(`${command}: an argument or environment entry holds a NUL byte`);
    }
    if (req.cwd !== undefined && !req.cwd.startsWith('/')) {
      throw new TypeError(`${command}: working directory "${req.cwd}" is not absolute`);
    }
    const id = this.nextId++;
    fields[1] = String(id);
    const body = Buffer.from(fields.map((f) => `${f}\0`).join('')).toString('base64');
    if (body.length > MAX_REQUEST)
      throw new TypeError(`${command}: arguments and environment too long for the spawner`);
    const proc = this.ensure();
    const child = new SpawnedChild(this, id, command, req.stdio.length);
    this.children.set(id, child);
    this.hold(1);
    proc.send(body);
    return child;
  }

  kill(id: number, sig: number): boolean {
    if (!this.proc || !this.children.has(id)) return false;
    this.proc.send(Buffer.from(`kill\0${id}\0${sig}\0`).toString('base64'));
    return true;
  }

  /** Counts children that keep the loop alive; the channel is ref'd only while there are any. */
  hold(delta: number): void {
    this.held += delta;
    const p = this.proc;
    if (!p) return;
    const on = this.held > 0;
    const channel = p.channel as unknown as { ref(): void; unref(): void } | undefined;
    if (on) {
      p.ref();
      channel?.ref();
    } else {
      p.unref();
      channel?.unref();
    }
  }

  pid(): number | undefined {
    return this.proc?.pid;
  }

  private ensure(): ChildProcess {
    if (this.proc) return this.proc;
    const proc = nodeSpawn(this.file, [], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      cwd: '/',
      serialization: 'json',
    });
    this.proc = proc;
    proc.on('message', (msg: Message, handle?: Socket) => this.onMessage(msg, handle));
    proc.on('error', (err) => this.lost(proc, err.message));
    proc.on('exit', (code, signal) => this.lost(proc, `exited with ${signal ?? code}`));
    // A channel error (the spawner gone mid-write) surfaces as the exit above.
    proc.channel?.on?.('error', () => undefined);
    this.hold(0);
    return proc;
  }

  private onMessage(msg: Message, handle?: Socket): void {
    const child = this.children.get(msg.id);
    if (!child) {
      handle?.destroy();
      log.warn({ msg }, 'spawner message about an unknown child');
      return;
    }
    switch (msg.t) {
      case 'fd':
        if (handle) child.gotStream(msg.fd, handle);
        break;
      case 'pid':
        child.pid = msg.pid;
        child.emit('spawn');
        break;
      case 'err': {
        this.children.delete(msg.id);
        const code = errnoName(msg.errno);
        const err = Object.assign(new Error(`spawn ${child.command} ${code} (${msg.step})`), {
          code,
          errno: -msg.errno,
          syscall: `spawn ${child.command}`,
        });
        child.failed(err);
        break;
      }
      case 'exit':
        this.children.delete(msg.id);
        child.gotExit(msg.code >= 0 ? msg.code : null, msg.sig > 0 ? (SIGNAL_NAMES.get(msg.sig) ?? null) : null);
        break;
      case 'bad':
        this.children.delete(msg.id);
        child.failed(new UnavailableError(`the spawner refused to start ${child.command}`));
        break;
    }
  }

  /** The spawner is gone: what was in flight fails or ends without a status; the next request starts another. */
  private lost(proc: ChildProcess, why: string): void {
    if (this.proc !== proc) return;
    this.proc = undefined;
    const inFlight = [...this.children.values()];
    this.children.clear();
    if (inFlight.length > 0) log.warn({ why, children: inFlight.length }, 'spawner died');
    for (const c of inFlight) {
      if (c.pid === undefined) {
        c.failed(new UnavailableError(`spawner died (${why}) while starting ${c.command}`));
      } else {
        log.warn({ childPid: c.pid, command: c.command }, 'spawner died: exit status of its child unknown');
        // run() listens for errors until the end: it fails naming the child; start()'s callers see an exit
        // with no status.
        if (c.listenerCount('error') > 0) {
          c.failed(
            new UnavailableError(`spawner died (${why}): the exit status of ${c.command} (pid ${c.pid}) is unknown`),
          );
        } else c.gotExit(null, null);
      }
    }
    this.held = 0;
  }
}

const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));

function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

let spawner: Spawner | null | undefined;

/**
 * The daemon's spawner, or undefined when native/spawner is not built or `UCRI_SPAWNER=node` asks for node's
 * spawn (for comparisons).
 */
export function theSpawner():
  | {
      spawn(file: string, args: readonly string[], req: SpawnRequest, command: string): Child;
      pid(): number | undefined;
    }
  | undefined {
  if (spawner === undefined) {
    const file = process.env.UCRI_SPAWNER === 'node' ? undefined : nativeHelper('spawner');
    spawner = file ? new Spawner(file) : null;
  }
  return spawner ?? undefined;
}

/** Whether `stdio` is something the spawner can give (otherwise node's spawn must). */
export function simpleStdio(stdio: unknown): stdio is SimpleStdio {
  return (
    Array.isArray(stdio) && stdio.length >= 3 && stdio.length <= 8 && stdio.every((s) => s === 'ignore' || s === 'pipe')
  );
}
