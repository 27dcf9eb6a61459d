/**
 * Removing a directory tree (or a file) as `fs.rm(path, { recursive: true, force: true })` does, but as one job
 * of libuv's thread pool through the addon native/addon/fs.c (dist/native/ucri-fs.node). node's rm issues a pool
 * job per lstat, readdir, unlink and rmdir, and on this project's VMs each job's dispatch and completion cost
 * the event loop more than its system call: ~4 ms of the daemon's thread per container removed
 * (docs/performance.md, "Phase 17").
 *
 * Stricter than node's rm in one way: the walk never enters another file system. A directory below `path` on
 * another device (a mount left in place) fails the removal with EXDEV and is left as it is, where node's rm
 * would remove the mount's content; a bind mount of the same file system is not told apart (same device), so
 * callers still unmount first. Symlinks are removed, never followed, as by node's rm.
 *
 * Without the addon (no compiler at build time; the layer worker's CommonJS file, addon.ts), or for a tree
 * deeper than the addon walks (ELOOP) or when it runs out of descriptors, node's rm does it.
 */
import { readdirSync, promises as fs } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { loadAddon } from './addon.js';
import { errnoError, errnoName } from './errno.js';

interface TreeAddon {
  /** Resolves 0 once `path` is gone (or was not there), else the errno. */
  removeTree(path: string): Promise<number>;
  /** Resolves 0 once every path is gone, else [errno, index] of the first that is not. */
  rmdirTrees(paths: string[]): Promise<0 | [number, number]>;
}

/** The addon's limit of paths per rmdirTrees call. */
const MAX_PATHS = 32;

const { errno } = constants;
/** errno numbers on which node's rm takes over: the addon's depth limit and its descriptors running out. */
const HAND_OVER = new Set([errno.ELOOP, errno.EMFILE, errno.ENFILE, errno.ENOMEM]);

/** Removes `path` and everything below it; a missing `path` is not an error. */
export async function removeTree(path: string): Promise<void> {
  const addon = loadAddon<TreeAddon>('ucri-fs.node');
  if (!addon?.removeTree) return fs.rm(path, { recursive: true, force: true });
  const rc = await addon.removeTree(path);
  if (rc === 0) return;
  if (HAND_OVER.has(rc)) return fs.rm(path, { recursive: true, force: true });
  throw errnoError(rc, 'rm', path);
}

/** True when removeTree runs as one job of the thread pool (tests). */
export function removeTreeNative(): boolean {
  return typeof loadAddon<TreeAddon>('ucri-fs.node')?.removeTree === 'function';
}

/**
 * rmdir(2) of each of `paths`, in order, after the directories below it (depth first; files are left, so a
 * directory holding one is not removed), as one job of the thread pool: made for a container's cgroup v1
 * directories, one per controller, whose control files go with the rmdir. Never follows a symlink; the addon
 * does not enter another device below a path. Resolves undefined when all are gone (a missing one counts as
 * gone), else the first that is not with its errno code (EBUSY: a process is still in it). Without the addon
 * (or for more than 32 paths) the same walk runs here: each listing read on the event loop (a cgroupfs listing
 * is made by the kernel, pkg/sys/cgroups.ts), each rmdir through the thread pool.
 */
export async function rmdirTrees(paths: readonly string[]): Promise<{ path: string; code: string } | undefined> {
  const addon = loadAddon<TreeAddon>('ucri-fs.node');
  if (!addon?.rmdirTrees || paths.length > MAX_PATHS) {
    for (const p of paths) {
      const code = await rmdirTree(p);
      if (code) return { path: p, code };
    }
    return undefined;
  }
  const out = await addon.rmdirTrees([...paths]);
  if (out === 0) return undefined;
  const [rc, at] = out;
  return { path: paths[at] ?? '', code: errnoName(rc) };
}

/** rmdirTrees' walk without the addon, for one path: undefined when it is gone, else the errno code. */
async function rmdirTree(dir: string): Promise<string | undefined> {
  let subdirs: string[];
  try {
    subdirs = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    return code === 'ENOENT' ? undefined : code;
  }
  for (const name of subdirs) {
    const code = await rmdirTree(join(dir, name));
    if (code) return code;
  }
  try {
    await fs.rmdir(dir);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    return code === 'ENOENT' ? undefined : code;
  }
}
