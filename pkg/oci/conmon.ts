/**
 * Containers under a container monitor: ucri's own (native/monitor.c, the default) or conmon (2.1.x, the
 * monitor CRI-O and podman use). Both take the same command line and speak the same protocol below; the
 * native monitor accepts only the subset used here and refuses anything else, so restores (`--restore`, CRIU)
 * and the `--exec` fallback always go to conmon. Below, "conmon" means either.
 *
 * conmon runs `<runtime> create`, holds the container's stdio, writes the CRI log file, serves the attach
 * socket, writes the exit code to `<exitDir>/<id>` and outlives ucri. The runtime's init stays blocked until `OciRuntime.start`.
 *
 * Handshake (fds handed to conmon by number in the environment):
 *   fd 3 `_OCI_SYNCPIPE`  conmon → ucri: `{"data": <container pid>}` or `{"data": -1, "message": <runtime stderr>}`
 *   fd 4 `_OCI_STARTPIPE` ucri → conmon: one byte once ucri has placed conmon (e.g. in a cgroup); conmon
 *                         forks nothing before it arrives.
 * Without `--sync` conmon double-forks: the process we spawn exits after writing the `-P` pidfile and the
 * real monitor is re-parented to init, so it survives a daemon restart. Exit detection therefore never
 * relies on conmon being our child: it reads the exit file (watch + poll) and checks conmon's pid.
 *
 * Bundle files conmon creates (with `--full-attach`): `attach` (SOCK_SEQPACKET attach socket), `ctl` (control
 * fifo: "1 <h> <w>\n" resizes the tty, "2 0 0\n" reopens the log), `oom` when it saw an OOM kill, and
 * (conmon only, for its own use) `winsz`.
 */
import { existsSync, readFileSync, rmSync, watch, promises as fs, constants as fsc, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import {
  type Child,
  DEFAULT_PATH,
  isAlive,
  nativeHelper,
  readStartTime,
  sleep,
  start,
  tail,
  waitChild,
} from '../sys/index.js';
import {
  CancelledError,
  FailedPreconditionError,
  fromAbort,
  InternalError,
  InvalidArgumentError,
  isKind,
  joinPath,
  logger,
  NotFoundError,
  requireExecutable,
  SYSTEM_DIRS,
  UnavailableError,
  untilAborted,
} from '../util/index.js';
import { criuErrors, type OciRuntime, runtimeMessage, validateContainerId } from './runtime.js';
import { SyncReader } from './sync-pipe.js';

const log = logger('oci/conmon');

export type ConmonLogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * `ucri`: the native monitor (dist/native/monitor; conmon when it is not built), `conmon`: conmon. Why ucri's
 * own by default: conmon costs ~2.3 MiB RSS per container, the static monitor ~0.7 (0.2 PSS; docs/performance.md,
 * "Monitor, phase 6").
 */
export type MonitorKind = 'ucri' | 'conmon';

export interface ConmonOptions {
  runtime: OciRuntime;
  /** Directory where conmon writes `<id>` holding the exit code. */
  exitDir: string;
  /** conmon's `--socket-dir-path`; unused with `--full-attach` but must exist. */
  socketDir: string;
  /** conmon binary (default: `conmon` from the standard directories). */
  path?: string;
  /** Which monitor runs containers (default `conmon` here; the launcher and the daemon default to `ucri`). */
  monitor?: MonitorKind;
  logLevel?: ConmonLogLevel;
}

export interface CreateOptions {
  id: string;
  /** Bundle directory holding config.json; conmon's cwd and home of its fifos and attach socket. */
  bundle: string;
  /** CRI log file (k8s-file format). */
  logPath: string;
  terminal?: boolean;
  /** Keep a stdin pipe open to the container (attach can write to it). */
  stdin?: boolean;
  /** Close stdin after the first attach session ends (CRI stdin_once). */
  stdinOnce?: boolean;
  /** Rotate-by-truncation limit of the log file in bytes (conmon `--log-size-max`). */
  logSizeMax?: number;
  /**
   * Restore from CRIU images instead of creating (conmon `--restore`, runc `restore --detach`): the container
   * comes back running, with no separate start. CRIU's log goes to `<workPath>/restore.log`.
   */
  restore?: { imagePath: string; workPath: string };
  /** Runs with conmon's pid before conmon may continue (place it in a cgroup here). */
  beforeStart?: (conmonPid: number) => Promise<void>;
  signal?: AbortSignal;
}

export interface CreatedContainer {
  /** Host pid of the container's init (blocked until start). */
  pid: number;
  pidStartTime?: bigint;
  /** pid of the monitoring conmon. */
  conmonPid: number;
  conmonStartTime?: bigint;
  attachSocket: string;
  ctlFifo: string;
}

export interface WaitExitOptions {
  signal?: AbortSignal;
  /** conmon's pid: when it is gone without an exit file, waiting stops with UnavailableError. */
  conmonPid?: number;
  conmonStartTime?: bigint;
  /** Fallback poll interval in ms (default 1000); fs.watch normally wakes the wait first. */
  pollMs?: number;
}

export class Conmon {
  readonly path: string;
  readonly runtime: OciRuntime;
  readonly exitDir: string;
  readonly socketDir: string;
  readonly logLevel: ConmonLogLevel;
  /** The monitor this object runs (`ucri` only when the native monitor is built). */
  readonly monitor: MonitorKind;
  private readonly opts: ConmonOptions;
  private conmonP: Promise<Conmon> | undefined;

  private constructor(binary: string, opts: ConmonOptions, monitor: MonitorKind) {
    this.path = binary;
    this.monitor = monitor;
    this.opts = opts;
    this.runtime = opts.runtime;
    this.exitDir = opts.exitDir;
    this.socketDir = opts.socketDir;
    this.logLevel = opts.logLevel ?? 'error';
  }

  /** Finds the monitor's binary and creates the exit and socket directories. */
  static async open(opts: ConmonOptions): Promise<Conmon> {
    for (const d of [opts.exitDir, opts.socketDir]) {
      if (!path.isAbsolute(d)) throw new InvalidArgumentError(`conmon directory "${d}" is not absolute`);
      await fs.mkdir(d, { recursive: true, mode: 0o700 });
    }
    const native = opts.monitor === 'ucri' ? nativeHelper('monitor') : undefined;
    if (native) return new Conmon(native, opts, 'ucri');
    if (opts.monitor === 'ucri') log.warn('native monitor not built (make native): using conmon');
    return new Conmon(await requireExecutable(opts.path ?? 'conmon', SYSTEM_DIRS), opts, 'conmon');
  }

  /**
   * conmon itself, for what only conmon does (restores, `--exec`): this object when it runs conmon, else one
   * sharing its exit and socket directories (opened once, on first use: conmon need not be installed
   * otherwise).
   */
  conmon(): Promise<Conmon> {
    if (this.monitor === 'conmon') return Promise.resolve(this);
    this.conmonP ??= Conmon.open({ ...this.opts, monitor: 'conmon' }).catch((err: unknown) => {
      this.conmonP = undefined;
      throw err;
    });
    return this.conmonP;
  }

  /** Path of the exit file of container `id`. */
  exitFile(id: string): string {
    validateContainerId(id);
    return joinPath(this.exitDir, id);
  }

  /** Attach socket of a container created with `bundle`. */
  static attachSocket(bundle: string): string {
    return joinPath(bundle, 'attach');
  }

  /** Flags common to create and exec. */
  baseArgs(id: string, cuuid: string): string[] {
    const a = ['--api-version', '1', '-c', id, '-u', cuuid, '-r', this.runtime.program, '--log-level', this.logLevel];
    for (const r of this.runtime.conmonRuntimeArgs()) a.push('--runtime-arg', r);
    return a;
  }

  /**
   * Creates container `id` from `bundle` under a new conmon and returns once the runtime has created it
   * (init blocked, pid known). On failure (runtime error, abort) nothing is left: conmon is gone and the
   * runtime's record deleted; the error carries the runtime's message.
   */
  async create(opts: CreateOptions): Promise<CreatedContainer> {
    if (opts.restore && this.monitor !== 'conmon') return (await this.conmon()).create(opts);
    validateContainerId(opts.id);
    for (const p of [opts.bundle, opts.logPath]) {
      if (!path.isAbsolute(p)) throw new InvalidArgumentError(`path "${p}" is not absolute`);
    }
    const exitFile = this.exitFile(opts.id);
    const conmonPidFile = joinPath(opts.bundle, 'conmon.pid');
    // A previous attempt's files removed, then the bundle checked, on the event loop (a few syscalls in the
    // runtime and bundle dirs, where a thread-pool round trip cost more; docs/performance.md, "Phase 11"); a
    // bundle without config.json fails here whatever the removals did.
    for (const f of [exitFile, conmonPidFile, joinPath(opts.bundle, 'oom')]) rmSync(f, { force: true });
    if (!existsSync(joinPath(opts.bundle, 'config.json'))) {
      throw new NotFoundError(`bundle "${opts.bundle}" has no config.json`);
    }

    const args = [
      ...this.baseArgs(opts.id, opts.id),
      '-n',
      opts.id,
      '-b',
      opts.bundle,
      '-p',
      joinPath(opts.bundle, 'pidfile'),
      '-P',
      conmonPidFile,
      '-l',
      `k8s-file:${opts.logPath}`,
      '--exit-dir',
      this.exitDir,
      '--socket-dir-path',
      this.socketDir,
      '--full-attach',
    ];
    if (this.runtime.systemdCgroup) args.push('-s');
    if (opts.logSizeMax !== undefined && opts.logSizeMax > 0) args.push('--log-size-max', String(opts.logSizeMax));
    if (opts.terminal) args.push('-t');
    if (opts.restore) {
      args.push('--restore', opts.restore.imagePath, '--runtime-opt', `--work-path=${opts.restore.workPath}`);
    }
    if (opts.stdin) {
      args.push('-i');
      if (!opts.stdinOnce) args.push('--leave-stdin-open');
    }

    const child = await start(this.path, args, {
      cwd: opts.bundle,
      env: { PATH: DEFAULT_PATH, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4' },
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    let stderr = '';
    (child.stderr as Readable).on('data', (c: Buffer) => {
      stderr = tail(stderr + c.toString('utf8'), 8192);
    });
    const sync = new SyncReader(child.stdio[3] as Readable);
    const startPipe = child.stdio[4] as Writable;
    startPipe.on('error', () => {}); // conmon may die before reading; its exit status tells
    let created = false;
    try {
      if (opts.beforeStart) await opts.beforeStart(child.pid!);
      startPipe.end(Buffer.from([0]));
      const first = await untilAborted(
        (async () => {
          const { code, signal } = await waitChild(child);
          if (code !== 0) {
            const detail = tail(stderr) || `exit ${code ?? signal}`;
            throw new InternalError(`${this.monitorName} for container "${opts.id}" failed: ${detail}`);
          }
          return sync.next();
        })(),
        opts.signal,
        () => fromAbort(new CancelledError(`create of container "${opts.id}" aborted`), opts.signal),
      );
      if (first.data <= 0) {
        const msg = first.message ? runtimeMessage(first.message) || first.message.trim() : 'no message';
        if (opts.restore) {
          const unsupported = this.runtime.withoutCriu(first.message ?? '');
          if (unsupported) throw new FailedPreconditionError(`cannot restore container "${opts.id}": ${unsupported}`);
          const criu = await criuErrors(joinPath(opts.restore.workPath, 'restore.log'));
          throw new FailedPreconditionError(`CRIU could not restore container "${opts.id}": ${criu || msg}`);
        }
        const text = `${this.runtime.kind} create of container "${opts.id}" failed: ${msg}`;
        // crun ≤ 1.8 on a hybrid cgroup host: a host limitation, not a fault of this container.
        if (/hybrid mode not supported/i.test(msg)) throw new FailedPreconditionError(text);
        throw new InternalError(text);
      }
      // The init's start time read while the monitor's pid file is (each is a file read, several round trips).
      const pidStartTime = readStartTime(first.data);
      pidStartTime.catch(() => {}); // awaited below unless the pid file is bad
      const conmonPid = Number((await fs.readFile(conmonPidFile, 'utf8')).trim());
      if (!Number.isInteger(conmonPid) || conmonPid <= 0) {
        throw new InternalError(`conmon pidfile of container "${opts.id}" is invalid`);
      }
      created = true;
      const [initStart, conmonStartTime] = await Promise.all([pidStartTime, readStartTime(conmonPid)]);
      return {
        pid: first.data,
        pidStartTime: initStart,
        conmonPid,
        conmonStartTime,
        attachSocket: Conmon.attachSocket(opts.bundle),
        ctlFifo: joinPath(opts.bundle, 'ctl'),
      };
    } finally {
      (child.stdio[3] as Readable).destroy();
      child.unref();
      if (!created) await this.undoCreate(opts.id, child, conmonPidFile);
    }
  }

  private get monitorName(): string {
    return this.monitor === 'ucri' ? 'container monitor' : 'conmon';
  }

  /** Rollback of a failed create, under its own deadline rather than the (maybe aborted) request's. */
  private async undoCreate(id: string, child: Child, conmonPidFile: string): Promise<void> {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    const text = await fs.readFile(conmonPidFile, 'utf8').catch(() => '');
    const pid = Number(text.trim());
    if (Number.isInteger(pid) && pid > 0 && (await isAlive(pid))) {
      try {
        process.kill(pid, 'SIGKILL'); // the conmon we started, by its recorded pid
      } catch {
        // already gone
      }
    }
    try {
      await this.runtime.delete(id, { force: true, signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      if (!isKind(err, 'NotFound')) log.warn({ err, id }, 'runtime delete after failed create');
    }
    await fs.rm(this.exitFile(id), { force: true });
  }

  /** The exit code conmon recorded for `id`, or undefined when it has not exited (no exit file). */
  async readExit(id: string): Promise<number | undefined> {
    let text: string;
    try {
      // On the event loop: a few bytes in the runtime dir, read when the exit is noticed.
      text = readFileSync(this.exitFile(id), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const code = Number.parseInt(text.trim(), 10);
    if (!Number.isInteger(code)) throw new InternalError(`exit file of container "${id}" holds "${text.trim()}"`);
    return code;
  }

  /** Deletes the exit file of `id` (when the container record goes). */
  async removeExit(id: string): Promise<void> {
    await fs.rm(this.exitFile(id), { force: true });
  }

  /**
   * Resolves with the exit code of container `id` (128+n for a signal) once conmon has written it. Works
   * whether or not conmon is our child (e.g. after a daemon restart). UnavailableError when `conmonPid` is
   * given and conmon died without an exit file; the abort's error when `signal` fires.
   */
  async waitExit(id: string, opts: WaitExitOptions = {}): Promise<number> {
    const file = this.exitFile(id);
    let wake: (() => void) | undefined;
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(this.exitDir, { persistent: false }, (_ev, name) => {
        if (name === null || name === id) wake?.();
      });
      watcher.on('error', () => {}); // the poll below still runs
    } catch (err) {
      log.debug({ err, dir: this.exitDir }, 'fs.watch unavailable, polling');
    }
    try {
      for (;;) {
        // Armed before the checks below: a watch event that arrives while they await must not be lost (it
        // was, and the wait then slept the whole poll interval: the one-second stalls of StopPodSandbox).
        const woken = new Promise<void>((resolve) => {
          wake = resolve;
        });
        const code = await this.readExit(id);
        if (code !== undefined) return code;
        if (opts.signal?.aborted) throw fromAbort(new CancelledError(`wait for "${id}" aborted`), opts.signal);
        if (opts.conmonPid !== undefined && !(await isAlive(opts.conmonPid, opts.conmonStartTime))) {
          const late = await this.readExit(id);
          if (late !== undefined) return late;
          throw new UnavailableError(`conmon of container "${id}" exited without writing ${file}`);
        }
        await Promise.race([woken, sleep(opts.pollMs ?? 1000, opts.signal)]);
      }
    } finally {
      watcher?.close();
    }
  }

  /**
   * Asks conmon to reopen the log file (after the kubelet rotated it). conmon does it asynchronously, by
   * writing a new file and renaming it over `logPath`; given `logPath`, this resolves only once that file
   * exists again (kubelet and critest look for it right after the call).
   */
  static async reopenLog(bundle: string, logPath?: string, timeoutMs = 5000): Promise<void> {
    await writeCtl(bundle, '2 0 0\n');
    if (logPath === undefined) return;
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (
        await fs.access(logPath).then(
          () => true,
          () => false,
        )
      )
        return;
      if (Date.now() >= until) throw new InternalError(`conmon did not reopen log "${logPath}" within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Resizes the container's terminal. */
  static async resizeTerminal(bundle: string, height: number, width: number): Promise<void> {
    for (const v of [height, width]) {
      if (!Number.isInteger(v) || v < 0 || v > 65535) throw new InvalidArgumentError(`invalid terminal size ${v}`);
    }
    await writeCtl(bundle, `1 ${height} ${width}\n`);
  }

  /** True when conmon recorded an OOM event for the container of `bundle` (complements cgroups.oomKilled). */
  static async sawOom(bundle: string): Promise<boolean> {
    // One access(2) on the runtime dir, on the event loop (asked at every container exit).
    return existsSync(joinPath(bundle, 'oom'));
  }
}

/**
 * One control message to conmon's `ctl` fifo. Non-blocking open: with no reader (conmon gone) it fails at
 * once with ENXIO instead of hanging. One message per write, as conmon reads them one read at a time.
 */
async function writeCtl(bundle: string, msg: string): Promise<void> {
  const fifo = joinPath(bundle, 'ctl');
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(fifo, fsc.O_WRONLY | fsc.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NotFoundError(`no conmon control fifo in "${bundle}"`, { cause: err });
    if (code === 'ENXIO') throw new FailedPreconditionError(`conmon of "${bundle}" is not running`, { cause: err });
    throw err;
  }
  try {
    await fh.write(msg);
  } finally {
    await fh.close();
  }
}
