/**
 * Running host programs. Every helper of pkg/sys that needs the kernel beyond what Node offers (mount(2),
 * setns(2), unshare(2)) goes through here, so there is one place that bounds output, honours deadlines and
 * turns failures into errors that name the command, its exit status and the end of its stderr.
 *
 * Only the child we spawned is ever signalled, by its own PID: never a process group, never by name.
 */
import { spawn as nodeSpawn, type StdioOptions } from 'node:child_process';
import {
  addCost,
  CancelledError,
  DeadlineExceededError,
  fromAbort,
  InternalError,
  profiling,
  UnavailableError,
} from '../util/index.js';
import { type Child, simpleStdio, theSpawner } from './spawner.js';

export type { Child } from './spawner.js';

/** Default cap on captured stdout (bytes); more is dropped and `stdoutTruncated` is set. */
export const DEFAULT_MAX_STDOUT = 4 * 1024 * 1024;
/** Default cap on captured stderr (bytes); the tail is kept, since errors are printed last. */
export const DEFAULT_MAX_STDERR = 64 * 1024;
/** How much of stderr goes into an error message. */
const STDERR_TAIL_IN_MESSAGE = 2048;

export interface RunOptions {
  /** Environment of the child; defaults to a minimal one (PATH only), not the daemon's. */
  env?: NodeJS.ProcessEnv;
  /** Working directory of the child. */
  cwd?: string;
  /** Bytes written to the child's stdin, which is then closed. Without it stdin is /dev/null. */
  stdin?: string | Uint8Array;
  /** Cancels the command: the child is killed (SIGKILL) and the call rejects with Cancelled/DeadlineExceeded. */
  signal?: AbortSignal;
  /** Kills the child after this many milliseconds and rejects with DeadlineExceededError. */
  timeoutMs?: number;
  /** Cap on captured stdout, bytes (default 4 MiB). */
  maxStdout?: number;
  /** Cap on captured stderr, bytes, keeping the tail (default 64 KiB). */
  maxStderr?: number;
  /** When true a non-zero exit resolves normally (inspect `code`); by default it rejects with InternalError. */
  allowFailure?: boolean;
}

export interface RunResult {
  /** The command line, for messages. */
  command: string;
  /** Exit code, or null when the child died of a signal. */
  code: number | null;
  /** The signal that ended the child, if any. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
}

/** Default PATH for helpers: the daemon's PATH is not trusted to be sane. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Renders a command line for messages and logs (arguments with spaces are quoted). */
export function describeCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/** The last `max` characters of `text`, trimmed, prefixed by an ellipsis when cut. */
export function tail(text: string, max = STDERR_TAIL_IN_MESSAGE): string {
  const t = text.trim();
  return t.length <= max ? t : `…${t.slice(t.length - max)}`;
}

/**
 * Runs `file args…` to completion and captures its output.
 * Rejects with InternalError on a non-zero exit (unless `allowFailure`), UnavailableError when the program
 * cannot be started (ENOENT/EACCES), DeadlineExceededError on `timeoutMs`, and the abort's domain error
 * (fromAbort) when `signal` fires. In every rejection the child has already been killed.
 */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  if (!profiling) return runChild(file, args, opts);
  const t0 = performance.now();
  const name = `spawn ${costName(file, args)}`;
  return runChild(file, args, opts).finally(() => addCost(name, performance.now() - t0));
}

/** `runc create`, `mount`, `bridge`: the program's base name and, for runc and ip, its verb. */
function costName(file: string, args: readonly string[]): string {
  const base = file.slice(file.lastIndexOf('/') + 1);
  const verb = args.find((a) => !a.startsWith('-') && !a.startsWith('/'));
  return ['runc', 'ip', 'iptables'].includes(base) && verb ? `${base} ${verb}` : base;
}

interface ChildOptions {
  env: NodeJS.ProcessEnv | undefined;
  cwd: string | undefined;
  stdio: StdioOptions;
  detached?: boolean;
}

/**
 * Starts a child through the daemon's spawner (pkg/sys/spawner.ts) when it is built and the stdio are plain
 * pipes and /dev/null, else with node's spawn. Throws synchronously what node's spawn would (bad arguments).
 * With profiling, the time the event loop was held (for node's spawn: the fork and the wait for the exec) is
 * the cost `fork <program>`.
 */
function spawnChild(file: string, args: readonly string[], command: string, opts: ChildOptions): Child {
  const t0 = profiling ? performance.now() : 0;
  const env = opts.env ?? { PATH: DEFAULT_PATH };
  const spawner = simpleStdio(opts.stdio) ? theSpawner() : undefined;
  const child: Child =
    spawner && simpleStdio(opts.stdio)
      ? spawner.spawn(file, args, { env, cwd: opts.cwd, stdio: opts.stdio, detached: opts.detached }, command)
      : nodeSpawn(file, [...args], { env, cwd: opts.cwd, stdio: opts.stdio, detached: opts.detached ?? false });
  if (profiling) addCost(`fork ${costName(file, args)}`, performance.now() - t0);
  return child;
}

function runChild(file: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const command = describeCommand(file, args);
  const maxOut = opts.maxStdout ?? DEFAULT_MAX_STDOUT;
  const maxErr = opts.maxStderr ?? DEFAULT_MAX_STDERR;
  if (opts.signal?.aborted) return Promise.reject(fromAbort(new CancelledError(`${command}: aborted`), opts.signal));

  return new Promise<RunResult>((resolve, reject) => {
    let child: Child;
    try {
      child = spawnChild(file, args, command, {
        env: opts.env,
        cwd: opts.cwd,
        stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
    } catch (err) {
      reject(new UnavailableError(`cannot run ${command}`, { cause: err }));
      return;
    }
    const out: Buffer[] = [];
    let outLen = 0;
    let outTruncated = false;
    let err = Buffer.alloc(0);
    let failure: unknown;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;

    const kill = (): void => {
      // By the child's own PID only (ChildProcess.kill targets child.pid).
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const onAbort = (): void => {
      failure ??= fromAbort(new CancelledError(`${command}: aborted`), opts.signal);
      kill();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        failure ??= new DeadlineExceededError(`${command}: timed out after ${opts.timeoutMs} ms`);
        kill();
      }, opts.timeoutMs);
    }

    // The spawner's children have their stdio once they run; node's have them at once and keep the data.
    child.once('spawn', () => {
      child.stdout?.on('data', (chunk: Buffer) => {
        if (outLen >= maxOut) {
          outTruncated = true;
          return;
        }
        const room = maxOut - outLen;
        if (chunk.length > room) {
          outTruncated = true;
          chunk = chunk.subarray(0, room);
        }
        out.push(chunk);
        outLen += chunk.length;
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        err = Buffer.concat([err, chunk]);
        if (err.length > maxErr) err = err.subarray(err.length - maxErr);
      });
      if (opts.stdin !== undefined && child.stdin) {
        // EPIPE when the child does not read its input is not our failure; its exit status tells.
        child.stdin.on('error', () => {});
        child.stdin.end(opts.stdin);
      }
    });

    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    child.on('error', (e: NodeJS.ErrnoException) => {
      finish(() => {
        if (e instanceof UnavailableError) reject(e);
        else if (e.code === 'ENOENT' || e.code === 'EACCES') {
          reject(new UnavailableError(`cannot run ${command}: ${e.code}`, { cause: e }));
        } else reject(new InternalError(`${command}: ${e.message}`, { cause: e }));
      });
    });
    child.on('close', (code, sig) => {
      finish(() => {
        const result: RunResult = {
          command,
          code,
          signal: sig,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: err.toString('utf8'),
          stdoutTruncated: outTruncated,
        };
        if (failure !== undefined) reject(failure);
        else if (code !== 0 && !opts.allowFailure) reject(commandError(result));
        else resolve(result);
      });
    });
  });
}

/** The InternalError for a failed command: command, exit status and stderr tail in the message. */
export function commandError(r: RunResult): InternalError {
  const status = r.code !== null ? `exited with code ${r.code}` : `was killed by ${r.signal ?? 'a signal'}`;
  const detail = tail(r.stderr) || tail(r.stdout);
  return new InternalError(`${r.command} ${status}${detail ? `: ${detail}` : ''}`);
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Node stdio spec; extra entries beyond index 2 become fds 3, 4, … in the child. */
  stdio?: StdioOptions;
  /** Run in a new session/process group so the child survives the daemon's terminal and signals. */
  detached?: boolean;
}

/**
 * Starts a long-lived program and returns its ChildProcess; the caller owns it (stdio, exit, kill by pid).
 * Resolves once the process exists; rejects with UnavailableError when it cannot be started.
 */
export function start(file: string, args: readonly string[], opts: StartOptions = {}): Promise<Child> {
  if (profiling) addCost(`start ${costName(file, args)}`, 0);
  const command = describeCommand(file, args);
  return new Promise<Child>((resolve, reject) => {
    let child: Child;
    try {
      child = spawnChild(file, args, command, {
        env: opts.env,
        cwd: opts.cwd,
        stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
        detached: opts.detached ?? false,
      });
    } catch (err) {
      reject(new UnavailableError(`cannot run ${command}`, { cause: err }));
      return;
    }
    const onError = (e: NodeJS.ErrnoException): void => {
      if (e instanceof UnavailableError) reject(e);
      else reject(new UnavailableError(`cannot run ${command}: ${e.code ?? e.message}`, { cause: e }));
    };
    child.once('error', onError);
    child.once('spawn', () => {
      child.off('error', onError);
      resolve(child);
    });
  });
}

/**
 * Resolves with the exit of a ChildProcess we own: `{ code, signal }`. Already-exited children resolve at once.
 */
export function waitChild(child: Child): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null || child.statusUnknown) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}
