/**
 * Streaming exec (CRI Exec): a process in a running container with live stdio, through the native helper
 * native/exec-relay.c, which runs `<runtime> exec --detach` and stays the exec'd process's parent (child
 * subreaper) so its exit status is ours and it is reaped. Without a terminal the process's stdio are our
 * pipes directly; with one the helper relays the pty master (received over the console socket).
 *
 * Ending a session early (close(), the abort signal) stops and SIGKILLs the process with all its
 * descendants and returns only once they are gone from /proc, so no process is left in the container.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { DEFAULT_PATH, killProcessTree, requireNativeHelper, start, tail, waitChild, waitGone } from '../sys/index.js';
import { InternalError, InvalidArgumentError, logger } from '../util/index.js';
import { type OciRuntime, validateContainerId } from './runtime.js';
import { removeScratchDir } from './scratch.js';
import type { Process } from './spec.js';

const log = logger('oci/exec-stream');

/** What an exec puts in its scratch directory (removed by name once the helper is gone). */
const SPEC_NAME = 'process.json';
const PID_NAME = 'pid';
const LOG_NAME = 'runtime.log';
const CONSOLE_NAME = 'console.sock';
const SCRATCH_NAMES = [SPEC_NAME, PID_NAME, LOG_NAME, CONSOLE_NAME];

/** How long the control socket's end is awaited after the helper's exit (see `exited` below). */
const CTL_END_MS = 2000;

export interface ExecStreamOptions {
  /** Running container to exec in. */
  id: string;
  /** The process in OCI form; `terminal` chooses a pty, `consoleSize` its first size. */
  process: Process;
  /** Give the process a stdin stream (otherwise it reads /dev/null). */
  stdin: boolean;
  /** Scratch directory for the spec, pid file and console socket (default the OS temp dir). */
  scratchDir?: string;
  /** Ends the session (as close()) when it fires. */
  signal?: AbortSignal;
}

export interface ExecStream {
  /** The exec'd process's host pid. */
  pid: number;
  stdin: Writable | undefined;
  /** stdout (with a terminal: the terminal's output). */
  stdout: Readable;
  /** stderr; undefined with a terminal. */
  stderr: Readable | undefined;
  /** Resizes the terminal (no-op without one). */
  resize(height: number, width: number): void;
  /** The exit code (128+n for signal n) once the process has exited and been reaped. */
  done: Promise<number>;
  /** Kills and reaps the process and its descendants if still running, releases everything; idempotent. */
  close(): Promise<void>;
}

/** Reads the last error message of a runtime's JSON log (`--log-format json`). */
async function runtimeLogError(file: string): Promise<string> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  let msg = '';
  for (const line of text.split('\n')) {
    try {
      const rec = JSON.parse(line) as { level?: string; msg?: string };
      if (rec.level === 'error' && rec.msg) msg = rec.msg;
    } catch {
      // not JSON
    }
  }
  return msg;
}

/**
 * Starts `opts.process` in container `opts.id` and resolves once it runs. InternalError with the
 * runtime's message when it cannot be started (e.g. the executable is missing).
 */
export async function execStream(runtime: OciRuntime, opts: ExecStreamOptions): Promise<ExecStream> {
  validateContainerId(opts.id);
  if (!opts.process.args || opts.process.args.length === 0) throw new InvalidArgumentError('exec needs a command');
  const tty = opts.process.terminal === true;
  const dir = await fs.mkdtemp(path.join(opts.scratchDir ?? os.tmpdir(), 'ucri-exec-'));
  const cleanupDir = (): Promise<void> => removeScratchDir(dir, SCRATCH_NAMES);
  try {
    const specFile = path.join(dir, SPEC_NAME);
    const pidFile = path.join(dir, PID_NAME);
    const logFile = path.join(dir, LOG_NAME);
    const consoleSock = path.join(dir, CONSOLE_NAME);
    await fs.writeFile(specFile, JSON.stringify(opts.process), { mode: 0o600 });
    const runtimeArgs = [...runtime.globalArgs(), '--log', logFile, '--log-format', 'json', 'exec', '--detach'];
    runtimeArgs.push('--pid-file', pidFile, '--process', specFile);
    if (tty) runtimeArgs.push('--console-socket', consoleSock);
    runtimeArgs.push(opts.id);
    const helperArgs = ['-p', pidFile, ...(tty ? ['-c', consoleSock] : []), '--', runtime.program, ...runtimeArgs];
    const child = await start(requireNativeHelper('exec-relay'), helperArgs, {
      cwd: dir,
      env: { PATH: DEFAULT_PATH },
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', 'pipe'],
    });
    const ctl = child.stdio[3] as unknown as Readable & Writable;
    ctl.on('error', () => {}); // the helper's exit tells
    let helperErr = '';
    const stderr = child.stderr as Readable;
    // Node resumes (and so discards) a child's unread stdio when the child exits. A quick command's helper
    // may exit before the caller has attached to the output, so the output is buffered from the start.
    const held = (src: Readable): Readable => {
      const out = new PassThrough();
      src.on('error', (err) => out.destroy(err));
      return src.pipe(out);
    };
    const stdout = held(child.stdout as Readable);
    const heldErr = tty ? undefined : held(stderr);
    if (tty) {
      stderr.on('data', (c: Buffer) => {
        helperErr = tail(helperErr + c.toString('utf8'), 4096);
      });
    }
    // The helper's exit can be reported before its last control lines are read (the spawner's exit
    // message and the control socket are separate channels; node's own 'exit' may come first too), so
    // the helper counts as ended only once the control socket has ended as well. Its only writer is the
    // helper (the runtime child closes it), so the end comes with the exit; the bound only guards a
    // helper whose status the daemon lost.
    const ctlEnded = new Promise<void>((resolve) => {
      ctl.once('end', resolve);
      ctl.once('close', resolve);
    });
    const exited = waitChild(child).then(async (st) => {
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([ctlEnded, new Promise<void>((resolve) => (bound = setTimeout(resolve, CTL_END_MS)))]);
      clearTimeout(bound);
      return st;
    });
    let execPid = 0;
    let exitCode: number | undefined;
    let failure: string | undefined;
    let started: (() => void) | undefined;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    let buf = '';
    ctl.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('pid ')) {
          execPid = Number(line.slice(4));
          started?.();
        } else if (line.startsWith('exit ')) exitCode = Number(line.slice(5));
        else if (line.startsWith('error ')) failure = line.slice(6);
      }
    });
    await Promise.race([running, exited]);
    if (execPid <= 0) {
      const { code, signal } = await exited;
      const msg =
        (await runtimeLogError(logFile)) ||
        failure ||
        tail(helperErr) ||
        `exec helper ended (${code ?? signal ?? 'status unknown'}) before the process ran`;
      await cleanupDir();
      throw new InternalError(`${runtime.kind} exec in container "${opts.id}" failed: ${msg}`);
    }

    // The scratch dir goes once the helper is gone; the exit code does not wait for that (close() does).
    const cleaned = exited.then(cleanupDir).catch((err: unknown) => log.warn({ err, dir }, 'exec scratch dir left'));
    const done = exited.then(({ code, signal }) => {
      if (exitCode !== undefined) return exitCode;
      throw new InternalError(
        `exec in container "${opts.id}" lost its helper (${failure ?? `exit ${code ?? signal}`}) ${tail(helperErr)}`,
      );
    });
    done.catch(() => {}); // observed by callers; never an unhandled rejection
    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
      closing ??= (async () => {
        if (exitCode === undefined && child.exitCode === null) {
          const tree = await killProcessTree(execPid);
          await exited;
          const left = await waitGone(tree);
          if (left.length > 0)
            log.warn({ id: opts.id, pids: left }, 'exec processes not reaped (zombies in the container)');
        }
        ctl.destroy();
        child.stdin?.destroy();
        await exited;
        await done.catch(() => {});
        await cleaned;
      })();
      return closing;
    };
    if (opts.signal) {
      if (opts.signal.aborted) void close();
      else opts.signal.addEventListener('abort', () => void close(), { once: true });
    }
    return {
      pid: execPid,
      stdin: child.stdin ?? undefined,
      stdout,
      stderr: heldErr,
      resize(height: number, width: number): void {
        if (!tty || !Number.isInteger(height) || !Number.isInteger(width)) return;
        if (height <= 0 || width <= 0 || height > 65535 || width > 65535) return;
        ctl.write(`resize ${height} ${width}\n`);
      },
      done,
      close,
    };
  } catch (err) {
    await cleanupDir();
    throw err;
  }
}
