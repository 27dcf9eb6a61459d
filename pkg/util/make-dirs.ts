/**
 * Making several directories in order as one job of libuv's thread pool, through the addon native/addon/fs.c
 * (dist/native/ucri-fs.node), where `fs.mkdir` per directory is a pool job each: on this project's VMs each
 * job's dispatch costs the event loop more than its mkdir(2) (docs/performance.md, "Phase 17"). Without the
 * addon, node's `fs.mkdir` makes them one after the other; the result is the same either way.
 */
import { promises as fs } from 'node:fs';
import { loadAddon } from './addon.js';
import { errnoError } from './errno.js';

interface DirsAddon {
  /** Resolves 0 once all are made, or [errno, index] of the first mkdir that failed (those before it made). */
  makeDirs(paths: string[], modes: number[]): Promise<0 | [number, number]>;
}

/** The addon's limit per call. */
const MAX_DIRS = 32;

/**
 * mkdir(2) of each `[path, mode]` in order (each under the umask, as `fs.mkdir(path, { mode })`); rejects with an
 * errno error naming the first path that failed (EEXIST included), those before it made.
 */
export async function makeDirs(dirs: ReadonlyArray<readonly [string, number]>): Promise<void> {
  const addon = loadAddon<DirsAddon>('ucri-fs.node');
  if (!addon?.makeDirs || dirs.length > MAX_DIRS) {
    for (const [d, mode] of dirs) await fs.mkdir(d, { mode });
    return;
  }
  const out = await addon.makeDirs(
    dirs.map(([d]) => d),
    dirs.map(([, mode]) => mode),
  );
  if (out === 0) return;
  const [errno, at] = out;
  throw errnoError(errno, 'mkdir', dirs[at]?.[0] ?? '');
}
