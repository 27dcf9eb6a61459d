/**
 * Swapping two names in one step (renameat2 with RENAME_EXCHANGE), through the small addon native/addon/fs.c
 * (dist/native/ucri-fs.node). checkpoint.ts uses it to put a record's new file in place of the old one: the
 * old file then lives on under the temp name and is unlinked in the thread pool, instead of being freed inside
 * a rename on the event loop (docs/performance.md, "Phase 16").
 *
 * Without the addon (no compiler at build time; the layer worker's CommonJS file, addon.ts) exchangeSync answers
 * -1 and the callers rename as before.
 */
import { loadAddon } from './addon.js';

interface FsAddon {
  /** 0 when `a` and `b` were exchanged, else the errno (nothing changed). */
  exchange(a: string, b: string): number;
}

function load(): FsAddon | null {
  return loadAddon<FsAddon>('ucri-fs.node');
}

/**
 * Exchanges the names `a` and `b`, both of which must exist and `b` be a regular file, on the calling thread:
 * afterwards `b` names the file `a` named and the other way round. Returns 0 when they were exchanged;
 * otherwise nothing changed and it returns the errno (ENOENT: either is missing; EISDIR: `b` is not a regular
 * file; EINVAL: the file system cannot exchange; EXDEV: two file systems), or -1 when the addon is not there.
 */
export function exchangeSync(a: string, b: string): number {
  return load()?.exchange(a, b) ?? -1;
}

/** True when exchangeSync can exchange anything (tests). */
export function exchangeAvailable(): boolean {
  return load() !== null;
}
