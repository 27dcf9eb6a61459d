/**
 * What `crun kill`, `crun delete` and `crun start` do for the common cases, done from crun's own state files
 * instead of a crun process (each is a fork of the daemon, an exec of nsutil and one of crun, on the hot paths
 * of StartContainer, StopContainer and the background release). The counterpart of runc-state.ts, for crun
 * 1.x's state dir `<root>/<id>/`: `status` (the init's pid and start time, the cgroup path), `config.json` (the
 * bundle's config, copied at create) and, while the container is created, `exec.fifo`. Only cases whose
 * outcome is exactly crun's are taken; anything else answers `false` and the caller runs crun as before:
 *
 *   kill:   the init process, identified by pid + start time, gets the signal (crun checks the same before
 *           its pidfd_send_signal). `--all` only for SIGKILL of a container with its own PID namespace: the
 *           kernel then kills every other process of the namespace, which is all the container has.
 *   delete: a stopped container (init gone) with its own PID namespace, no hooks and the cgroupfs driver: its
 *           cgroup is removed in every hierarchy (deepest first), then its state dir, crun's order. A crash in
 *           between leaves a state dir that a later `crun delete` finishes.
 *   start:  a created container (init alive, identified by pid + start time, its exec.fifo present) with no
 *           hooks: the fifo is opened for writing without blocking (the init holds its read end), unlinked
 *           (crun's mark of "running") and one byte is written, on which the init execs the user process.
 *           crun returns there too, without waiting for the exec. If the init died in between, the open fails
 *           (no reader) and crun decides.
 */
import { constants as fsConstants, promises as fs } from 'node:fs';
import { cgroupDirs, isAlive } from '../sys/index.js';
import {
  hasHooks,
  killInit,
  readStateFile,
  removeStopped,
  type StateShortcuts,
  unreadableState,
} from './state-shortcuts.js';
import { joinPath } from '../util/index.js';

/** The parts of crun 1.x's `<root>/<id>/status` used here. */
interface CrunStatus {
  pid?: number;
  'process-start-time'?: number;
  'cgroup-path'?: string;
  'systemd-cgroup'?: boolean;
}

/** The parts of the config crun copies into its state dir. */
interface CrunConfig {
  hooks?: Record<string, unknown[] | null> | null;
  linux?: { namespaces?: Array<{ type?: string; path?: string }> };
}

/** The status and the config copy of crun's state dir `dir`, read at once. */
function readState(dir: string): Promise<[CrunStatus | undefined, CrunConfig | undefined]> {
  return Promise.all([
    readStateFile<CrunStatus>(joinPath(dir, 'status')),
    readStateFile<CrunConfig>(joinPath(dir, 'config.json')),
  ]);
}

/** The init's pid and start time from a status, when both are there. */
function initOf(st: CrunStatus | undefined): { pid: number; start: bigint } | undefined {
  const pid = st?.pid;
  const start = st?.['process-start-time'];
  if (!Number.isInteger(pid) || !pid || pid <= 0 || !Number.isInteger(start) || !start) return undefined;
  return { pid, start: BigInt(start) };
}

function ownPidNamespace(cfg: CrunConfig): boolean {
  return (cfg.linux?.namespaces ?? []).some((n) => n.type === 'pid' && !n.path);
}

/**
 * Signals the init of container `id` as `crun kill` would. Resolves `true` when sent, `'gone'` when the init
 * has exited, `false` when crun must decide (no usable state, or `--all` in a case not taken here).
 */
export async function crunKillFromState(root: string, id: string, sig: string | number, all = false) {
  return killInit(sig, all, async () => {
    const init = initOf(await readStateFile<CrunStatus>(joinPath(root, id, 'status')));
    if (!init) return undefined;
    const ownPidNs = async () => {
      const cfg = await readStateFile<CrunConfig>(joinPath(root, id, 'config.json'));
      return cfg !== undefined && ownPidNamespace(cfg);
    };
    return { ...init, ownPidNamespace: ownPidNs };
  });
}

/**
 * Deletes a stopped container as `crun delete` would. Resolves `true` when done, `'absent'` when crun has no
 * state dir for `id`, `false` when crun must do it (running or created, shared PID namespace, hooks, the
 * systemd driver, a busy cgroup, a state it cannot read).
 */
export async function crunDeleteFromState(root: string, id: string): Promise<boolean | 'absent'> {
  const dir = joinPath(root, id);
  const [st, cfg] = await readState(dir);
  if (!st) return unreadableState(dir);
  const init = initOf(st);
  if (!init || !cfg || (await isAlive(init.pid, init.start))) return false;
  if (!ownPidNamespace(cfg) || hasHooks(cfg.hooks) || st['systemd-cgroup']) return false;
  const cgroup = st['cgroup-path'];
  let cgroups: string[] = [];
  try {
    if (cgroup) cgroups = await cgroupDirs(cgroup);
  } catch {
    return false;
  }
  return removeStopped(dir, cgroups, 'crun');
}

/**
 * Starts a created container as `crun start` would. Resolves `true` once the go-ahead byte is written,
 * `false` when crun must do it (no usable state, not in the created state, hooks, the init gone).
 */
export async function crunStartFromState(root: string, id: string): Promise<boolean> {
  const dir = joinPath(root, id);
  const [st, cfg] = await readState(dir);
  const init = initOf(st);
  if (!init || !cfg || hasHooks(cfg.hooks)) return false;
  const fifo = joinPath(dir, 'exec.fifo');
  const info = await fs.lstat(fifo).catch(() => undefined);
  if (!info?.isFIFO() || !(await isAlive(init.pid, init.start))) return false;
  // Non-blocking: with no reader left (the init died) open(2) fails with ENXIO instead of waiting forever.
  const fh = await fs.open(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK).catch(() => undefined);
  if (!fh) return false;
  try {
    await fs.unlink(fifo);
    await fh.write(Buffer.from([0]));
    return true;
  } finally {
    await fh.close();
  }
}

/** crun's state shortcuts, for OciRuntime. */
export const CRUN_STATE: StateShortcuts = {
  start: crunStartFromState,
  kill: crunKillFromState,
  delete: crunDeleteFromState,
};
