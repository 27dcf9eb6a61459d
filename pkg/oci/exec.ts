/**
 * ExecSync through conmon: `conmon --exec` runs `<runtime> exec --detach --process <spec>` in a running
 * container, logs the process's output to a private k8s-file log, and reports pid then exit code on the
 * sync pipe. With `--sync` conmon stays our child for the duration. No `-b` and no `--exit-dir`: those would
 * clobber the container's own attach socket, control fifo and exit file.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { DEFAULT_PATH, killProcessTree, start, tail, waitChild, waitGone } from '../sys/index.js';
import {
  CancelledError,
  DeadlineExceededError,
  fromAbort,
  InternalError,
  InvalidArgumentError,
  logger,
  untilAborted,
} from '../util/index.js';
import type { Conmon } from './conmon.js';
import { runtimeMessage, validateContainerId } from './runtime.js';
import type { Process } from './spec.js';
import { SyncReader } from './sync-pipe.js';

const log = logger('oci/exec');

export interface ExecSyncOptions {
  /** Running container to exec in. */
  id: string;
  /** The process (args, env, cwd, user, capabilities…) in OCI form. */
  process: Process;
  /** Kill the process and its descendants after this long; the call fails only once they are reaped. */
  timeoutMs?: number;
  /** Cap on stdout and on stderr each, bytes (default 16 MiB); more is dropped. */
  maxOutputBytes?: number;
  /** Scratch directory for the spec and log (default the OS temp dir). */
  scratchDir?: string;
  signal?: AbortSignal;
}

export interface ExecSyncResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;

/**
 * Validates an ExecSync request (container id, a command, a positive timeout) for either way of running it;
 * returns the output cap in bytes. InvalidArgumentError otherwise.
 */
export function checkExecSync(opts: ExecSyncOptions): number {
  validateContainerId(opts.id);
  if (!opts.process.args || opts.process.args.length === 0) throw new InvalidArgumentError('exec needs a command');
  if (opts.timeoutMs !== undefined && !(opts.timeoutMs > 0)) {
    throw new InvalidArgumentError(`invalid exec timeout ${opts.timeoutMs}`);
  }
  return opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
}

/**
 * Runs a process in container `id` to completion and returns its exit code and output.
 * DeadlineExceededError when `timeoutMs` passes (the process is killed), InternalError with the runtime's
 * message when the exec itself fails (e.g. executable not found), the abort's error on `signal`.
 */
export async function execSync(conmon: Conmon, opts: ExecSyncOptions): Promise<ExecSyncResult> {
  const max = checkExecSync(opts);
  const dir = await fs.mkdtemp(path.join(opts.scratchDir ?? os.tmpdir(), 'ucri-exec-'));
  try {
    const specFile = path.join(dir, 'process.json');
    const logFile = path.join(dir, 'log');
    await fs.writeFile(specFile, JSON.stringify(opts.process), { mode: 0o600 });
    const execId = randomBytes(8).toString('hex');
    const args = [
      ...conmon.baseArgs(opts.id, execId),
      '-p',
      path.join(dir, 'pid'),
      '-l',
      `k8s-file:${logFile}`,
      // Bounds the disk a chatty process can fill; conmon truncates past it, we cap again when reading.
      '--log-size-max',
      String(Math.max(4 * max, 1 << 20)),
      '--exec',
      '--exec-process-spec',
      specFile,
      '--sync',
    ];
    const child = await start(conmon.path, args, {
      cwd: dir,
      env: { PATH: DEFAULT_PATH, _OCI_SYNCPIPE: '3' },
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    (child.stderr as Readable).on('data', (c: Buffer) => {
      stderr = tail(stderr + c.toString('utf8'), 8192);
    });
    const sync = new SyncReader(child.stdio[3] as Readable);
    let execPid: number | undefined;
    // Our own timer rather than conmon's -T: conmon kills only the exec'd pid and replies before the kernel
    // has finished it, while the caller (critest, kubelet probes) looks for leftovers right after the reply.
    let timedOut = false;
    let killing: Promise<void> | undefined;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            if (execPid !== undefined) killing = killTree(execPid);
          }, opts.timeoutMs);
    const onAbort = (): unknown => {
      // Kill the exec'd process (conmon then reports and exits); before its pid is known, conmon itself,
      // whose runtime child dies with it (PDEATHSIG).
      try {
        if (execPid !== undefined) process.kill(execPid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // already gone
      }
      return fromAbort(new CancelledError(`exec in container "${opts.id}" aborted`), opts.signal);
    };
    const outcome = untilAborted(
      (async () => {
        const first = await sync.next();
        if (first.data <= 0) {
          const msg = first.message ? runtimeMessage(first.message) || first.message.trim() : 'no message';
          throw new InternalError(`exec in container "${opts.id}" failed: ${msg}`);
        }
        execPid = first.data;
        if (timedOut) killing = killTree(execPid);
        return sync.next();
      })(),
      opts.signal,
      onAbort,
    );
    let last: Awaited<typeof outcome>;
    try {
      last = await outcome;
    } catch (err) {
      if (child.exitCode === null && child.signalCode === null && !opts.signal?.aborted) child.kill('SIGKILL');
      await waitChild(child);
      if (err instanceof InternalError && /closed its sync pipe/.test(err.message) && stderr) {
        throw new InternalError(`conmon exec in container "${opts.id}" failed: ${tail(stderr)}`, { cause: err });
      }
      throw err;
    } finally {
      clearTimeout(timer);
      (child.stdio[3] as Readable).destroy();
    }
    await waitChild(child);
    if (timedOut) {
      await killing;
      throw new DeadlineExceededError(`exec in container "${opts.id}" timed out after ${opts.timeoutMs} ms`);
    }
    if (last.data < 0) {
      throw new InternalError(`exec in container "${opts.id}" failed: ${last.message ?? `status ${last.data}`}`);
    }
    const { stdout, stderr: errOut } = await readK8sLog(logFile, max);
    return { exitCode: last.data, stdout, stderr: errOut };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** SIGKILLs `pid` and its descendants and waits until they are reaped (conmon reaps the exec'd pid). */
async function killTree(pid: number): Promise<void> {
  const tree = await killProcessTree(pid);
  const left = await waitGone(tree);
  if (left.length > 0) log.warn({ pids: left }, 'timed-out exec left zombies in the container');
}

/**
 * Reassembles a k8s-file log (`<RFC3339Nano> <stream> <P|F> <text>` lines) into stdout and stderr bytes:
 * F ends a line (a newline is restored), P is a partial line. Each stream is capped at `max` bytes.
 */
export async function readK8sLog(file: string, max: number): Promise<{ stdout: Buffer; stderr: Buffer }> {
  let text: Buffer;
  try {
    text = await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
    throw err;
  }
  return parseK8sLog(text, max);
}

/** Pure part of readK8sLog. Malformed lines are skipped. */
export function parseK8sLog(text: Buffer, max: number): { stdout: Buffer; stderr: Buffer } {
  const parts: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
  const sizes = { stdout: 0, stderr: 0 };
  let pos = 0;
  while (pos < text.length) {
    let nl = text.indexOf(0x0a, pos);
    if (nl < 0) nl = text.length;
    const line = text.subarray(pos, nl);
    pos = nl + 1;
    const s1 = line.indexOf(0x20);
    const s2 = s1 < 0 ? -1 : line.indexOf(0x20, s1 + 1);
    if (s2 < 0) continue;
    const stream = line.subarray(s1 + 1, s2).toString();
    if (stream !== 'stdout' && stream !== 'stderr') continue;
    const tag = line.subarray(s2 + 1, s2 + 2).toString();
    // "<tag> <content>"; an empty line has the content missing altogether.
    let content = line.length > s2 + 3 ? line.subarray(s2 + 3) : Buffer.alloc(0);
    if (tag === 'F') content = Buffer.concat([content, Buffer.from('\n')]);
    else if (tag !== 'P') continue;
    const room = max - sizes[stream];
    if (room <= 0) continue;
    if (content.length > room) content = content.subarray(0, room);
    parts[stream].push(content);
    sizes[stream] += content.length;
  }
  return { stdout: Buffer.concat(parts.stdout), stderr: Buffer.concat(parts.stderr) };
}
