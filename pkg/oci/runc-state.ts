/**
 * What `runc kill` and `runc delete` do for the common cases, done from runc's own state file instead of a
 * runc process (each runc call is a fork of the daemon plus a Go binary's start-up, on the hot path of
 * StopContainer, RemoveContainer and RemovePodSandbox). Only cases whose outcome is exactly runc's are taken;
 * anything else answers `false` and the caller runs runc as before:
 *
 *   kill:   the init process, identified by pid + start time from state.json, gets the signal (runc does the
 *           same after the same check). `--all` only for SIGKILL of a container with its own PID namespace:
 *           the kernel then kills every other process of the namespace, which is all the container has.
 *   delete: a stopped container (init gone) with its own PID namespace (so nothing else of it can still run),
 *           no hooks and no Intel RDT: its cgroups are removed (deepest first) and then its state dir, the
 *           order runc uses. A crash in between leaves a state dir that a later `runc delete` finishes.
 *   start:  a created container (init alive, identified by pid + start time, its exec.fifo present) with no
 *           hooks: the fifo is opened for reading, which lets the init's blocked open for writing return; it
 *           writes one byte and execs the user process, which closes its end (close-on-exec). Like runc, the
 *           call returns once that end is closed, with the byte read, and the fifo is removed (runc's mark of
 *           "running"). Unlike runc, the fifo is unlinked right after it is opened, not after the read: a crash
 *           in between then leaves a stopped container (the init dies of SIGPIPE) rather than a running
 *           process whose state still says "created", on which a retried `runc start` would wait forever.
 */
import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import { isAlive, sleep } from '../sys/index.js';
import {
  hasHooks,
  killInit,
  readStateFile,
  removeStopped,
  type StateShortcuts,
  unreadableState,
} from './state-shortcuts.js';
import { CancelledError, fromAbort, InternalError } from '../util/index.js';

/** The parts of runc 1.x's `<root>/<id>/state.json` used here. */
interface RuncState {
  init_process_pid?: number;
  init_process_start?: number;
  cgroup_paths?: Record<string, string>;
  intel_rdt_path?: string;
  config?: {
    namespaces?: Array<{ type?: string; path?: string }>;
    Hooks?: Record<string, unknown[] | null> | null;
  };
}

function readState(root: string, id: string): Promise<RuncState | undefined> {
  return readStateFile<RuncState>(path.join(root, id, 'state.json'));
}

/** True when the container has a PID namespace of its own (not joined by path). */
function ownPidNamespace(st: RuncState): boolean {
  return (st.config?.namespaces ?? []).some((n) => n.type === 'NEWPID' && !n.path);
}

/**
 * Signals the init of container `id` as `runc kill` would. Resolves `true` when sent, `'gone'` when the init
 * has exited (runc: "container not running"), `false` when runc must decide (no usable state file).
 */
export async function killFromState(root: string, id: string, sig: string | number, all = false) {
  return killInit(sig, all, async () => {
    const st = await readState(root, id);
    const pid = st?.init_process_pid;
    const start = st?.init_process_start;
    if (!st || !pid || !start) return undefined;
    return { pid, start: BigInt(start), ownPidNamespace: () => ownPidNamespace(st) };
  });
}

/**
 * Deletes a stopped container as `runc delete` would. Resolves `true` when done, `'absent'` when runc has
 * no state for `id`, `false` when runc must do it (running, shared PID namespace, hooks, a busy cgroup).
 */
export async function deleteFromState(root: string, id: string): Promise<boolean | 'absent'> {
  const dir = path.join(root, id);
  const st = await readState(root, id);
  if (!st) return unreadableState(dir);
  const pid = st.init_process_pid;
  const start = st.init_process_start;
  if (!pid || !start || (await isAlive(pid, BigInt(start)))) return false;
  if (!ownPidNamespace(st) || hasHooks(st.config?.Hooks) || st.intel_rdt_path) return false;
  return removeStopped(dir, new Set(Object.values(st.cgroup_paths ?? {})), 'runc');
}

/** How often the exec fifo is polled while the init has not yet written to it or exec'd. */
const FIFO_POLL_MS = 1;

/**
 * Starts a created container as `runc start` would. Resolves `true` once the init has exec'd the user
 * process (or failed to: its exit is then the container's), `false` when runc must do it (no usable state, not
 * in the created state, hooks). Rejects with InternalError when the init dies before taking the go-ahead, and
 * with the abort's error on `signal` (the container is then stopped: see the header).
 */
export async function startFromState(root: string, id: string, signal?: AbortSignal): Promise<boolean> {
  const st = await readState(root, id);
  const pid = st?.init_process_pid;
  const start = st?.init_process_start;
  if (!st || !pid || !start || hasHooks(st.config?.Hooks)) return false;
  const fifo = path.join(root, id, 'exec.fifo');
  const info = await fs.lstat(fifo).catch(() => undefined);
  if (!info?.isFIFO() || !(await isAlive(pid, BigInt(start)))) return false;
  // Non-blocking: open(2) of a fifo for reading then never waits for a writer, and reads never block.
  const fh = await fs.open(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK).catch(() => undefined);
  if (!fh) return false;
  try {
    await fs.unlink(fifo);
    const buf = Buffer.alloc(16);
    let got = 0;
    for (let n = 0; ; n++) {
      let r = -1;
      try {
        r = (await fh.read(buf, 0, buf.length, null)).bytesRead;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      }
      if (r > 0) {
        got += r;
        continue;
      }
      // End of file after the byte: the init has exec'd (its end is close-on-exec) or died trying.
      if (r === 0 && got > 0) return true;
      // No byte yet (no writer yet, or one that has not written): the init must still be there.
      if (n % 50 === 49 && !(await isAlive(pid, BigInt(start)))) {
        if (got > 0) return true;
        throw new InternalError(`runc start "${id}" failed: container process is already dead`);
      }
      if (signal?.aborted) throw fromAbort(new CancelledError(`start of container "${id}" aborted`), signal);
      await sleep(FIFO_POLL_MS);
    }
  } finally {
    await fh.close();
  }
}

/** runc's state shortcuts, for OciRuntime. */
export const RUNC_STATE: StateShortcuts = { start: startFromState, kill: killFromState, delete: deleteFromState };
