/**
 * The pieces runc-state.ts and crun-state.ts share: reading a state file, the hooks check, signalling a
 * runtime's init identified by pid + start time, and removing a stopped container's cgroups and state dir.
 * `StateShortcuts` is what each of them offers OciRuntime.
 */
import { constants as osConstants } from 'node:os';
import { promises as fs, readFileSync } from 'node:fs';
import { isAlive } from '../sys/index.js';
import { logger, removeTree, rmdirTrees } from '../util/index.js';

const log = logger('oci/state-shortcuts');

/**
 * start, kill and delete done from a runtime's own state where the outcome is exactly the runtime's; `false`
 * leaves the call to the runtime (see runc-state.ts and crun-state.ts for what each takes).
 */
export interface StateShortcuts {
  start(root: string, id: string, signal?: AbortSignal): Promise<boolean>;
  kill(root: string, id: string, sig: string | number, all?: boolean): Promise<boolean | 'gone'>;
  delete(root: string, id: string): Promise<boolean | 'absent'>;
}

/** A runtime's JSON state file, or undefined when it is missing or unreadable. */
export async function readStateFile<T>(file: string): Promise<T | undefined> {
  // On the event loop: a small file in the runtime's state dir (tmpfs), read on the kill and exit paths of
  // every StopContainer (docs/performance.md, "Phase 11").
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** True when a config's hooks (runc's `Hooks`, the OCI `hooks`) name any program: those the runtime runs. */
export function hasHooks(hooks: Record<string, unknown[] | null> | null | undefined): boolean {
  return Object.values(hooks ?? {}).some((h) => Array.isArray(h) && h.length > 0);
}

/**
 * The answer of a delete whose state file could not be read: `'absent'` when the runtime has no state dir for
 * the container, else `false` (the runtime decides what a dir without a readable state is).
 */
export async function unreadableState(dir: string): Promise<false | 'absent'> {
  const exists = await fs.stat(dir).then(
    () => true,
    () => false,
  );
  return exists ? false : 'absent';
}

/**
 * The end of a stopped container's delete, in the runtimes' order: each cgroup dir (with its sub-cgroups),
 * then the state dir. `false`, with nothing more removed, at the first busy cgroup: the runtime's delete then
 * finishes it. A crash in between leaves a state dir that a later delete finishes.
 */
export async function removeStopped(stateDir: string, cgroups: Iterable<string>, runtime: string): Promise<boolean> {
  // One job of the thread pool for all of them (pkg/util rmdirTrees), where a walk here was a readdir on the
  // event loop and a job per rmdir, for every controller's directory (docs/performance.md, "Phase 17").
  const left = await rmdirTrees([...cgroups]);
  if (left) {
    log.debug({ stateDir, cgroup: left.path, code: left.code }, `cgroup busy; leaving the delete to ${runtime}`);
    return false;
  }
  await removeTree(stateDir);
  return true;
}

/** A signal given as "SIGTERM", "TERM" or "15", as node's process.kill takes it; undefined when unknown. */
function nodeSignal(sig: string | number): NodeJS.Signals | number | undefined {
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
async function signalInit(pid: number, start: bigint, signal: NodeJS.Signals | number): Promise<boolean | 'gone'> {
  if (!(await isAlive(pid, start))) return 'gone';
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return 'gone';
    return false;
  }
}
