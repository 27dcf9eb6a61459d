/**
 * One full garbage collection when the daemon goes quiet after a burst of work.
 *
 * V8 collects its old generation when the heap reaches a limit that it raises as the heap grows, and its
 * memory reducer waits for a low allocation rate that a daemon spawning runc and CNI plugins rarely shows.
 * After a few hundred pod cycles the heap was ~52 MiB committed for ~20 MiB live, and the daemon kept that
 * resident while idle: the "after load" growth of docs/performance.md. One collection once the RPCs have
 * stopped for a while gives those pages back (V8 unmaps what the collection frees).
 *
 * The collector never wakes up on its own: each finished RPC (`activity()`) arms one timer if none is armed;
 * when it fires while RPCs kept finishing it re-arms for what is left of `quietMs` after the last one (not a
 * whole period: the collection then comes `quietMs` after the burst, where it came anywhere between one and two
 * periods after it, and `make bench` read the idle figure at 2 s either before or after it; docs/performance.md,
 * "Idle memory, phase 8"), else it collects, once, if the used or the committed
 * heap grew by `minGrowthBytes` since the last collection (under load V8's own collections bring the used
 * heap back down but leave the heap they grew committed: checking the used heap alone missed that case and
 * the daemon stayed +35% over idle after 100 pod cycles). The daemon's collection is V8's low-memory one
 * (pkg/sys reduceHeap: collections until one frees nothing more, then the young generation and pooled pages
 * given back; docs/performance.md, "Idle memory, phase 14"). Where the node binary does not offer it, it is
 * node's `gc()` (`--expose-gc`, SERVE_NODE_FLAGS) in two passes: the second frees what the first one's weak
 * callbacks and finalizers released (measured: +11% over idle instead of +16%). A steady poller (kubelet
 * relists every second) therefore never triggers it and V8's own heuristics apply. Without either the
 * collector does not collect. Each quiet period also ends with `trim` (malloc_trim): the pages threads
 * freed into malloc's arenas are not the JS heap's, and stayed resident without it (docs/performance.md,
 * "Pull and memory after load, phase 6").
 */
import { logger } from '../../pkg/util/index.js';

const log = logger('daemon/idle-gc');

export interface IdleCollectorOptions {
  /** The collection to run (node's `gc` under --expose-gc); undefined: the collector is inert. */
  gc: (() => void) | undefined;
  /** How long no RPC may finish before the daemon counts as quiet. */
  quietMs?: number;
  /** Collect only when the used heap grew at least this much since the last collection. */
  minGrowthBytes?: number;
  /** The used heap in bytes (tests inject it). */
  heapUsed?: () => number;
  /** The heap V8 has committed, in bytes (tests inject it). */
  heapTotal?: () => number;
  /** Full collections per quiet period: the second one frees what the first one's finalizers released. */
  passes?: number;
  /** A monotonic clock in ms (tests inject one). */
  now?: () => number;
  /**
   * Run once per quiet period, after the collection if there was one: gives malloc's free pages back
   * (pkg/sys trimMalloc). Returns whether anything was given back.
   */
  trim?: () => boolean;
}

export class IdleCollector {
  private readonly gc: (() => void) | undefined;
  private readonly quietMs: number;
  private readonly minGrowth: number;
  private readonly heapUsed: () => number;
  private readonly heapTotal: () => number;
  private readonly passes: number;
  private readonly trim: (() => boolean) | undefined;
  private readonly now: () => number;
  /** Bumped by every activity; a timer that finds it changed waits for the rest of a quiet period. */
  private seq = 0;
  /** When the last activity was recorded (`now()`). */
  private last = 0;
  private timer: NodeJS.Timeout | undefined;
  private baseline: number;
  private baselineTotal: number;
  private stopped = false;
  /** Collections run so far (tests, logs). */
  collections = 0;
  /** Quiet periods in which `trim` ran (tests). */
  trims = 0;

  constructor(opts: IdleCollectorOptions) {
    this.gc = opts.gc;
    this.quietMs = opts.quietMs ?? 1500;
    this.minGrowth = opts.minGrowthBytes ?? 2 * 1024 * 1024;
    this.heapUsed = opts.heapUsed ?? (() => process.memoryUsage().heapUsed);
    this.heapTotal = opts.heapTotal ?? (() => process.memoryUsage().heapTotal);
    this.passes = Math.max(1, opts.passes ?? 1);
    this.trim = opts.trim;
    this.now = opts.now ?? (() => performance.now());
    this.baseline = this.gc ? this.heapUsed() : 0;
    this.baselineTotal = this.gc ? this.heapTotal() : 0;
  }

  /** Records that an RPC finished. Cheap: at most one pending timer. */
  activity(): void {
    if ((!this.gc && !this.trim) || this.stopped) return;
    this.seq++;
    this.last = this.now();
    if (!this.timer) this.arm(this.seq, this.quietMs);
  }

  /** Cancels the pending timer; later activity is ignored. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(seen: number, ms: number): void {
    this.timer = setTimeout(() => this.fire(seen), ms);
    this.timer.unref();
  }

  private fire(seen: number): void {
    this.timer = undefined;
    if (this.stopped) return;
    if (this.seq !== seen) {
      // Quiet since the last activity for `quiet` ms: wait for the rest of the period only.
      const quiet = Math.max(0, this.now() - this.last);
      this.arm(this.seq, Math.max(0, this.quietMs - quiet));
      return;
    }
    if (this.gc) this.collect(this.gc);
    // malloc keeps what threads freed (the layer worker's buffers, a burst of stats calls) in its arenas
    // whether or not the JS heap grew: measured +10 to +20 MiB after the bench's latency part without it.
    if (this.trim) {
      const t0 = performance.now();
      const gave = this.trim();
      this.trims++;
      log.debug({ gave, ms: Math.round(performance.now() - t0) }, 'malloc trim');
    }
  }

  private collect(gc: () => void): void {
    const before = this.heapUsed();
    const total = this.heapTotal();
    // Garbage freed by V8 on its own since the last collection lowers the baselines too.
    if (before < this.baseline) this.baseline = before;
    if (total < this.baselineTotal) this.baselineTotal = total;
    // V8's own collections under load keep the used heap near its live size but leave the heap they grew
    // committed: growth of either counts.
    if (before - this.baseline < this.minGrowth && total - this.baselineTotal < this.minGrowth) return;
    const t0 = performance.now();
    for (let i = 0; i < this.passes; i++) gc();
    this.collections++;
    this.baseline = this.heapUsed();
    this.baselineTotal = this.heapTotal();
    log.debug(
      { beforeMiB: mib(before), afterMiB: mib(this.baseline), ms: Math.round(performance.now() - t0) },
      'idle collection',
    );
  }
}

const mib = (b: number): number => Math.round((b / 1048576) * 10) / 10;
