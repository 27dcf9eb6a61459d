/**
 * The pieces runc-state.ts and crun-state.ts share: reading a signal as node takes it, signalling a runtime's
 * init identified by pid + start time, and removing a cgroup directory with its sub-cgroups.
 */
import { constants as osConstants } from 'node:os';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isAlive } from '../sys/index.js';

/** A signal given as "SIGTERM", "TERM" or "15", as node's process.kill takes it; undefined when unknown. */
export function nodeSignal(sig: string | number): NodeJS.Signals | number | undefined {
  const s = String(sig);
  if (/^\d{1,2}$/.test(s)) return Number(s);
  const name = (s.startsWith('SIG') ? s : `SIG${s}`) as NodeJS.Signals;
  return name in osConstants.signals ? name : undefined;
}

/** What a kill from a runtime's state needs to know about the container's init. */
export interface InitFacts {
  pid: number;
  /** Its start time (field 22 of /proc/<pid>/stat), as the runtime recorded it. */
  start: bigint;
  /** Whether the container has a PID namespace of its own (not joined by path). */
  ownPidNamespace: () => boolean | Promise<boolean>;
}

/**
 * `<runtime> kill [--all] <id> <sig>` from the runtime's state, shared by runc-state.ts and crun-state.ts:
 * the init, identified by pid + start time (`facts`, undefined when the state is unusable), gets the signal.
 * `--all` is taken only for SIGKILL of a container with its own PID namespace: the kernel then kills every
 * other process of the namespace, which is all the container has. Resolves `true` when sent, `'gone'` when the
 * init has exited, `false` when the runtime must decide.
 */
export async function killInit(
  sig: string | number,
  all: boolean,
  facts: () => Promise<InitFacts | undefined>,
): Promise<boolean | 'gone'> {
  const signal = nodeSignal(sig);
  if (signal === undefined) return false;
  if (all && signal !== 'SIGKILL' && signal !== osConstants.signals.SIGKILL) return false;
  const init = await facts();
  if (!init) return false;
  if (all && !(await init.ownPidNamespace())) return false;
  return signalInit(init.pid, init.start, signal);
}

/**
 * Sends `signal` to the init `pid` if it is still the process that started at `start` (both runtimes check
 * the same before signalling). `true` when sent, `'gone'` when it has exited, `false` on any other failure.
 */
export async function signalInit(
  pid: number,
  start: bigint,
  signal: NodeJS.Signals | number,
): Promise<boolean | 'gone'> {
  if (!(await isAlive(pid, start))) return 'gone';
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return 'gone';
    return false;
  }
}

/** rmdir `dir` after its sub-cgroups; true when it is gone. */
export async function removeCgroupDir(dir: string): Promise<boolean> {
  let entries: string[];
  try {
    entries = (await fs.readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
  for (const e of entries) if (!(await removeCgroupDir(path.join(dir, e)))) return false;
  try {
    await fs.rmdir(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
