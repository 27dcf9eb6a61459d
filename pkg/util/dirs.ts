/**
 * Directory helpers for the hot paths, where each file operation is a round trip through libuv's thread
 * pool: `fs.mkdir(p, { recursive: true })` on a path whose parents are missing first fails on every missing
 * level and then makes them one by one (2k − 1 round trips for k new levels), and on an existing dir adds a
 * stat to the EEXIST. A caller that knows which parents exist makes each level once, concurrently where the
 * levels allow (docs/performance.md, "Container verbs, phase 8").
 */
import { mkdirSync, promises as fs } from 'node:fs';

/** True when `p` exists (not following a last symlink); other errors than ENOENT are thrown. */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Makes the directory `p` with one mkdir(2) when its parent exists, as the caller expects. Resolves true when
 * it made it, false when `p` already existed (any kind of file: the caller's next step on it finds out). A
 * missing parent is made after all (`recursive`), so the expectation is an optimisation, not a requirement.
 */
export async function mkdirOnce(p: string, mode: number): Promise<boolean> {
  try {
    await fs.mkdir(p, { mode });
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'ENOENT') throw err;
  }
  await fs.mkdir(p, { recursive: true, mode });
  return true;
}

/**
 * `mkdirOnce` on the event loop: one mkdir(2) (tens of µs idle, 0.1–0.5 ms on the loaded test VM) instead of
 * a thread-pool round trip, 2–5× that under load (docs/performance.md, "CreateContainer, phase 9"). While it
 * runs, nothing else does: only for directories of ucri's own stores on a local filesystem. Same answers as
 * mkdirOnce: true when made (missing parents made after all), false when `p` was there.
 */
export function mkdirOnceSync(p: string, mode: number): boolean {
  try {
    mkdirSync(p, { mode });
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'ENOENT') throw err;
  }
  mkdirSync(p, { recursive: true, mode });
  return true;
}
