/**
 * glibc's malloc_trim(0) through the small addon native/addon/malloc.c (dist/native/ucri-malloc.node).
 *
 * What a thread frees stays in glibc's arenas: after a pull, the layer worker's arena kept ~10 MiB resident
 * once its thread had ended, and the main arena a few MiB after a burst of stats calls (docs/performance.md,
 * "Pull and memory after load, phase 6"). Trimming walks every arena and hands the free pages back. The daemon
 * trims when it goes quiet and when the layer worker ends; without the addon (no compiler at build time, a
 * libc that is not glibc) trimming does nothing and only memory is lost.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { logger } from '../util/index.js';

const log = logger('sys/malloc');

/** dist/native/ucri-malloc.node, from dist/pkg/sys (and from the bundle, two folders below dist/ too). */
const ADDON = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../native/ucri-malloc.node');

let addon: { trim(): boolean } | null | undefined;

function load(): { trim(): boolean } | null {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(ADDON) as { trim(): boolean };
    } catch (err) {
      log.debug({ err }, 'malloc addon not loaded: memory freed by threads stays in their arenas');
      addon = null;
    }
  }
  return addon;
}

/**
 * Gives the free pages of every malloc arena back to the system. Returns true when some were; false when
 * none were or the addon is not there. Takes a few milliseconds: call it when the daemon is quiet.
 */
export function trimMalloc(): boolean {
  return load()?.trim() ?? false;
}

/** True when trimMalloc can do anything (tests). */
export function mallocTrimAvailable(): boolean {
  return load() !== null;
}
