/**
 * Applies registry layers in a worker thread (worker-main.ts): download, digest check, decompression, diff_id
 * hash and extraction all run there, so a pull's buffers never reach the daemon's heap (its collections cost
 * ~75 ms per pull of the bench's 51 MB image) and the work spreads over both cores instead of queueing on the
 * daemon's one thread (docs/performance.md, PullImage phase 5). The thread starts with the first job (or
 * `warm()`) and ends once no job ran for `idleMs`, so an idle daemon carries no second isolate; once it has
 * ended, malloc is trimmed, since the arena the thread allocated its buffers from stays resident otherwise
 * (~10 MiB after one pull of the bench's image: docs/performance.md, "Pull and memory after load, phase 6").
 * Starting the thread takes 100–500 ms on a loaded machine (the first start in a process the longest), so
 * callers that have another way may use the thread only once it is `ready` and `warm()` it meanwhile.
 *
 * LayerWorkerPool (below) runs several such threads and spreads a pull's layers over them.
 *
 * Guarantees are those of applyLayer and the registry client: the worker runs the same code. A job settles
 * only when the worker reports it finished, so when it fails (cancelled included) nothing writes into
 * `targetDir` any more and the caller may remove it. A worker that dies fails its jobs with InternalError.
 */
import { Worker } from 'node:worker_threads';
import { trimMalloc } from '../../sys/index.js';
import { errorOfKind, fromAbort } from '../../util/index.js';
import { DigestMismatchError } from '../digest.js';
import type { ApplyResult, LayerFormat } from './apply.js';
import type { RemoteBlob } from './remote.js';
import type { LayerTiming, SerializedError, ToMain, ToWorker } from './worker-protocol.js';

/** Rebuilds an error of the worker as the class it had there (errno code kept for ENOSPC mapping). */
export function deserializeError(e: SerializedError): Error {
  if (e.kind === 'DigestMismatch') {
    return new DigestMismatchError(e.what ?? 'blob', e.expected ?? {}, e.actual ?? { size: 0 });
  }
  const known = errorOfKind(e.kind, e.message);
  if (known) return known;
  const err = new Error(e.message) as NodeJS.ErrnoException;
  if (e.code !== undefined) err.code = e.code;
  return err;
}

interface Job {
  /** The thread running it: a thread that dies fails its own jobs, not those of its successor. */
  worker: Worker;
  onBytes: ((n: number) => void) | undefined;
  settle: (msg: Extract<ToMain, { type: 'done' }>) => void;
}

export interface RemoteApplyOptions {
  format: LayerFormat;
  signal: AbortSignal;
  diffId?: string;
  onBytes?: (n: number) => void;
  /**
   * Hears where the job's time went (worker-protocol LayerTiming) plus `waited`: ms between this call and the
   * worker taking the job (the thread's start-up, when it was not ready), as seen from here.
   */
  onTiming?: (t: LayerTiming & { waited: number }) => void;
  /**
   * A layer of a small pull (LayerWorkerPool): it runs on a thread already running rather than start another
   * one, whose start would cost more than the layer.
   */
  small?: boolean;
}

/**
 * The thread's file beside this module: tsc's ES module worker-main.js, or in the daemon's bundle the worker's
 * own one-file CommonJS build, whose name hack/bundle.ts defines here (a CommonJS file starts ~5 ms of CPU
 * sooner: no ES module loader in the new thread; docs/performance.md, "PullImage cold start, phase 8").
 */
declare const __UCRI_LAYER_WORKER_FILE__: string | undefined;
const WORKER_FILE = typeof __UCRI_LAYER_WORKER_FILE__ === 'string' ? __UCRI_LAYER_WORKER_FILE__ : './worker-main.js';

export class LayerWorker {
  private worker: Worker | undefined;
  private readonly jobs = new Map<number, Job>();
  private next = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  /** The thread that reported it has loaded its code. */
  private readyWorker: Worker | undefined;

  constructor(
    private readonly idleMs = 1000,
    /** Run once a thread has exited (pkg/sys trimMalloc; tests inject a counter). */
    private readonly onExit: () => void = trimMalloc,
    /** The thread's code (WORKER_FILE); tests name the bundle's file to run it from tsc's output. */
    private readonly script: URL = new URL(WORKER_FILE, import.meta.url),
  ) {}

  /** True when a thread is running and has loaded its code: a job starts without waiting for it. */
  get ready(): boolean {
    return this.worker !== undefined && this.readyWorker === this.worker;
  }

  /** Starts the thread if it is not running; it ends after `idleMs` if no job comes. */
  warm(): void {
    this.start();
    this.armIdle();
  }

  /**
   * Fetches `blob` and applies it to `targetDir` (which must exist) in the worker. Resolves undefined when the
   * worker could not get a 200 for it before writing anything: the caller then takes the ordinary path.
   */
  async apply(blob: RemoteBlob, targetDir: string, opts: RemoteApplyOptions): Promise<ApplyResult | undefined> {
    const { signal } = opts;
    signal.throwIfAborted();
    const worker = this.start();
    const id = this.next++;
    const posted = performance.now();
    const done = new Promise<Extract<ToMain, { type: 'done' }>>((resolve) => {
      this.jobs.set(id, { worker, onBytes: opts.onBytes, settle: resolve });
    });
    const onAbort = (): void => {
      const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
      worker.postMessage({ type: 'abort', id, reason } satisfies ToWorker);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    worker.postMessage({
      type: 'apply',
      id,
      blob,
      targetDir,
      format: opts.format,
      ...(opts.diffId === undefined ? {} : { diffId: opts.diffId }),
    } satisfies ToWorker);
    try {
      const msg = await done;
      if (msg.error) {
        const err = deserializeError(msg.error);
        // A job we aborted reports a cancellation; the signal's own reason (a deadline, the watchdog) says why.
        throw signal.aborted ? fromAbort(new Error(err.message, { cause: err }), signal) : err;
      }
      if (msg.timing && opts.onTiming) {
        const total = performance.now() - posted;
        opts.onTiming({ ...msg.timing, waited: Math.max(0, Math.round(total - msg.timing.applied)) });
      }
      if (msg.fallback) {
        signal.throwIfAborted();
        return undefined;
      }
      return msg.result;
    } catch (err) {
      throw fromAbort(err, signal);
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.jobs.delete(id);
      this.armIdle();
    }
  }

  /** Ends the thread now (tests, shutdown); running jobs fail. */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  /** Jobs posted and not yet settled (LayerWorkerPool's choice of thread). */
  get load(): number {
    return this.jobs.size;
  }

  /** True while the thread exists (tests). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  private start(): Worker {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.worker) return this.worker;
    const w = new Worker(this.script);
    w.on('message', (msg: ToMain) => {
      if (msg.type === 'ready') {
        if (this.worker === w) this.readyWorker = w;
        this.armIdle();
        return;
      }
      const job = this.jobs.get(msg.id);
      if (!job) return;
      if (msg.type === 'bytes') job.onBytes?.(msg.n);
      else job.settle(msg);
    });
    const fail = (err: Error): void => {
      if (this.worker === w) this.worker = undefined;
      for (const [id, job] of this.jobs) {
        if (job.worker !== w) continue;
        job.settle({ type: 'done', id, error: { kind: 'Internal', message: `layer worker failed: ${err.message}` } });
      }
    };
    w.on('error', fail);
    w.on('exit', (code) => {
      fail(new Error(`exited with code ${code}`));
      if (this.readyWorker === w) this.readyWorker = undefined;
      // The thread's malloc arena keeps what its buffers used until trimmed.
      try {
        this.onExit();
      } catch {
        // Only memory is at stake.
      }
    });
    w.unref();
    this.worker = w;
    return w;
  }

  private armIdle(): void {
    if (this.jobs.size > 0 || !this.worker) return;
    clearTimeout(this.idleTimer);
    // A thread still loading its code is not idle yet: its "ready" arms the timer again.
    this.idleTimer = setTimeout(() => {
      if (this.jobs.size === 0 && this.ready) void this.close();
    }, this.idleMs);
    this.idleTimer.unref();
  }
}

/** What the layer store needs of its worker: one thread (LayerWorker) or several (LayerWorkerPool). */
export interface LayerApplier {
  /** True when a job could start at once on a thread that has loaded its code. */
  readonly ready: boolean;
  warm(): void;
  apply(blob: RemoteBlob, targetDir: string, opts: RemoteApplyOptions): Promise<ApplyResult | undefined>;
}

/**
 * Several LayerWorker threads, each started and ended on its own terms (on demand, `idleMs` after its last
 * job). A large pull keeps one thread busy the whole time (its JavaScript, the two hashes, the decompression's
 * callbacks, the writes: docs/performance.md, "PullImage, phase 12"), so its concurrent layers are spread
 * over as many threads: a job goes to the thread with the fewest jobs, and among equals to one that has loaded
 * its code. A thread still starting (or not started) counts half a job, so an idle one that is starting is
 * still preferred to a ready one that is busy (a start costs a few tens of ms, a large layer a hundred or more).
 * `warm()` starts one thread: a second starts only when a second layer of a large pull comes while the first
 * thread has a job, so that small pulls, and an idle daemon after them, never pay for two isolates.
 */
export class LayerWorkerPool implements LayerApplier {
  private readonly threads: LayerWorker[];

  constructor(threads: number, idleMs?: number, onExit?: () => void, script?: URL) {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`layer worker threads: ${threads}`);
    this.threads = Array.from({ length: threads }, () => new LayerWorker(idleMs, onExit, script));
  }

  get ready(): boolean {
    return this.threads.some((t) => t.ready);
  }

  /** Starts one thread if none is running (a pull's layers are about to come). */
  warm(): void {
    if (!this.threads.some((t) => t.running)) this.threads[0]!.warm();
  }

  apply(blob: RemoteBlob, targetDir: string, opts: RemoteApplyOptions): Promise<ApplyResult | undefined> {
    const cost = (t: LayerWorker): number => t.load + (t.ready ? 0 : 0.5);
    const running = this.threads.filter((t) => t.running);
    const candidates = opts.small && running.length > 0 ? running : this.threads;
    let best = candidates[0]!;
    for (const t of candidates) if (cost(t) < cost(best)) best = t;
    // The chosen thread counts the job (its `load`) from this call on, before anything is awaited.
    return best.apply(blob, targetDir, opts);
  }

  /** Ends every thread now (tests, shutdown); running jobs fail. */
  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }

  /** How many threads exist now (tests). */
  get running(): number {
    return this.threads.filter((t) => t.running).length;
  }
}
