/**
 * Giving memory back when the daemon is quiet, through the small addon native/addon/memory.c
 * (dist/native/ucri-memory.node):
 *
 * - `trimMalloc`: glibc's malloc_trim(0). What a thread frees stays in glibc's arenas: after a pull, the layer
 *   worker's arena kept ~10 MiB resident once its thread had ended, and the main arena a few MiB after a burst
 *   of stats calls (docs/performance.md, "Pull and memory after load, phase 6"). Trimming walks every arena and
 *   hands the free pages back. The daemon trims when it goes quiet and when the layer worker ends.
 * - `reduceHeap`: V8's low-memory collection (`v8::Isolate::LowMemoryNotification`): full collections in V8's
 *   memory-reducing mode, the young generation shrunk and pooled pages unmapped, which node's `gc()` leaves to
 *   V8's memory reducer ~8 s later (docs/performance.md, "Idle memory, phase 14").
 *
 * Without the addon (no compiler at build time, a libc that is not glibc) or without the V8 symbols in the node
 * binary, these do nothing and say so; only memory is lost.
 */
import { loadAddon, logger } from '../util/index.js';

const log = logger('sys/memory');

interface MemoryAddon {
  trim(): boolean;
  /** Absent when the node binary does not export the V8 functions it calls. */
  lowMemory?: () => boolean;
}

/** dist/native/ucri-memory.node (pkg/util loadAddon). */
function load(): MemoryAddon | null {
  return loadAddon<MemoryAddon>('ucri-memory.node', (err) =>
    log.debug({ err }, 'memory addon not loaded: memory freed by threads stays in their arenas'),
  );
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

/**
 * Collects the JS heap of the calling thread as V8 does when told memory is low: every collection that still
 * frees something, then the unused young-generation and pooled pages given back. Tens of milliseconds on the
 * calling thread: only when the daemon is quiet. Returns false when it could not be asked (no addon, or a node
 * binary without the V8 functions): then use `gc()`.
 */
export function reduceHeap(): boolean {
  return load()?.lowMemory?.() ?? false;
}

/** True when reduceHeap can do anything. */
export function heapReductionAvailable(): boolean {
  return typeof load()?.lowMemory === 'function';
}
