/**
 * Process facts from /proc: liveness, start time (to tell a PID from its reuse) and waiting for a process
 * that is not our child, such as a conmon that outlived a daemon restart and now belongs to init.
 */
import { readFileSync } from 'node:fs';
import { fromAbort, CancelledError, InvalidArgumentError } from '../util/index.js';

export interface ProcStat {
  pid: number;
  /** Executable name as the kernel stores it (max 15 characters). */
  comm: string;
  /** One-letter state: R, S, D, Z (zombie), T, t, X (dead), I, … */
  state: string;
  ppid: number;
  /** Start time in clock ticks since boot (field 22); with the pid it identifies one process for good. */
  startTime: bigint;
}

function checkPid(pid: number): void {
  if (!Number.isInteger(pid) || pid <= 0) throw new InvalidArgumentError(`invalid pid ${pid}`);
}

/** Parses the text of /proc/<pid>/stat. The comm field may contain spaces and parentheses. */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new InvalidArgumentError('malformed /proc stat line');
  const pid = Number(text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  // Fields after comm start with field 3 (state); field 22 (starttime) is index 19 here.
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const state = rest[0];
  const ppid = rest[1];
  const start = rest[19];
  if (state === undefined || ppid === undefined || start === undefined || !/^\d+$/.test(start)) {
    throw new InvalidArgumentError('malformed /proc stat line');
  }
  return { pid, comm, state, ppid: Number(ppid), startTime: BigInt(start) };
}

/** /proc/<pid>/stat of a process, or undefined when there is no such process. */
export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  checkPid(pid);
  // On the event loop: procfs makes the line on read, without disk I/O (a thread-pool read cost four round
  // trips; docs/performance.md, "Phase 11").
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return undefined;
    throw err;
  }
}

/** Start time (clock ticks since boot) of `pid`, or undefined when it does not exist. */
export async function readStartTime(pid: number): Promise<bigint | undefined> {
  return (await readProcStat(pid))?.startTime;
}

/**
 * True when `pid` is a running process (kill(pid, 0) succeeds and it is not a zombie). When `startTime` is
 * given, the process must also have that start time, so a recycled PID reads as dead.
 */
export async function isAlive(pid: number, startTime?: bigint): Promise<boolean> {
  checkPid(pid);
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM means it exists but is not ours to signal; as root that does not happen, but it is alive.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const st = await readProcStat(pid);
  if (!st) return false;
  // A zombie whose parent (often init in a container host) never reaps it has exited for our purposes.
  if (st.state === 'Z' || st.state === 'X') return false;
  return startTime === undefined || st.startTime === startTime;
}

export interface WaitPidOptions {
  signal?: AbortSignal;
  /** Start time recorded when the pid was learnt; a different one means the original has exited. */
  startTime?: bigint;
  /** Poll interval in ms (default 250). */
  intervalMs?: number;
}

/**
 * Resolves once `pid` (not necessarily our child) has exited, by polling /proc. Rejects with the abort's
 * domain error when `signal` fires. The exit status of a non-child cannot be read; take it from elsewhere
 * (conmon's exit file).
 */
export async function waitPidExit(pid: number, opts: WaitPidOptions = {}): Promise<void> {
  checkPid(pid);
  const interval = opts.intervalMs ?? 250;
  for (;;) {
    if (opts.signal?.aborted) throw fromAbort(new CancelledError(`wait for pid ${pid} aborted`), opts.signal);
    if (!(await isAlive(pid, opts.startTime))) return;
    await sleep(interval, opts.signal);
  }
}

/** setTimeout as a promise that an AbortSignal ends early (resolving; callers re-check the signal). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The oom_score_adj of this daemon: children may not be set below it without CAP_SYS_RESOURCE. */
export async function ownOomScoreAdj(): Promise<number> {
  // Read synchronously: a /proc/self file is made by the kernel on read (tens of µs, never disk), while an
  // async read is four round trips through libuv's pool, queued behind other calls' fsyncs (every
  // CreateContainer reads both of these files; docs/performance.md "CreateContainer, phase 6"). Not cached:
  // kubelet or systemd may change the daemon's oom_score_adj and limits after it started.
  const text = readFileSync('/proc/self/oom_score_adj', 'utf8');
  return Number(text.trim());
}

/** Soft and hard RLIMIT_NOFILE of this daemon; children cannot get a higher hard limit without privilege. */
export async function ownNofileLimit(): Promise<{ soft: number; hard: number }> {
  const text = readFileSync('/proc/self/limits', 'utf8');
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  const m = line?.match(/^Max open files\s+(\S+)\s+(\S+)/);
  const num = (s: string | undefined): number => (s === undefined || s === 'unlimited' ? 2 ** 32 - 1 : Number(s));
  return { soft: num(m?.[1]), hard: num(m?.[2]) };
}
