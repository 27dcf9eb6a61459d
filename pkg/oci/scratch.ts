/**
 * The scratch directory of one exec (its process spec, pid file, runtime log, console socket), removed by
 * unlinking the names the exec put there, all at once, then the directory itself: two rounds of system
 * calls through libuv's thread pool where a recursive `fs.rm` takes five (lstat, readdir, lstat of each
 * entry, unlink of each, rmdir, one after the other). The removal runs right after an exec's answer, while
 * the client's next call arrives on the same event loop (docs/performance.md, "Status and list calls after
 * a verb, phase 8"). Anything else found in the directory (a file the runtime left) is removed by the
 * recursive `fs.rm` as before, so the directory is always gone when this resolves.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

export async function removeScratchDir(dir: string, names: readonly string[]): Promise<void> {
  await Promise.all(
    names.map((n) =>
      fs.unlink(path.join(dir, n)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      }),
    ),
  ).catch(() => undefined); // whatever is left is for the recursive removal below
  try {
    await fs.rmdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    await fs.rm(dir, { recursive: true, force: true });
  }
}
