/**
 * Concurrency helpers for pulls: a limiter bounding parallel downloads, and shared flights so concurrent
 * pulls of one image or layer run one download. A shared flight runs under its own AbortController that
 * fires only when every caller waiting on it has given up, so one cancelled pull never fails the others.
 */
import { fromAbort } from '../util/index.js';

/** Runs at most `limit` tasks at a time, in arrival order. */
export class Limiter {
  private active = 0;
  private readonly queue: Array<() => void> = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
  }

  /** Runs `fn` when a slot is free; a caller aborted while queued leaves the queue with the abort error. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.active < this.limit) this.active++;
    else {
      // The finishing task hands its slot over directly, so a newcomer cannot slip in between.
      await new Promise<void>((resolve, reject) => {
        const start = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          const i = this.queue.indexOf(start);
          if (i >= 0) this.queue.splice(i, 1);
          reject(fromAbort(signal?.reason, signal));
        };
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        this.queue.push(start);
      });
    }
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.active--;
    }
  }
}

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

/** Deduplicates concurrent work by key: the first caller starts it, later callers join it. */
export class SharedFlight<T> {
  private readonly flights = new Map<string, Flight<T>>();

  /**
   * Joins the running flight for `key` or starts `fn(sharedSignal)`. The shared signal aborts only when all
   * joined callers' signals have aborted. Each caller still sees its own abort as its own rejection; the last
   * one to leave (whose abort stops the work) gets it only once the work has wound down, so whatever the work
   * undoes on abort (staging directories) is undone by then.
   */
  async do(key: string, fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw fromAbort(signal.reason, signal);
    let flight = this.flights.get(key);
    if (!flight) {
      const controller = new AbortController();
      const created: Flight<T> = { controller, waiters: 0, promise: Promise.resolve(undefined as T) };
      created.promise = (async () => {
        try {
          return await fn(controller.signal);
        } finally {
          if (this.flights.get(key) === created) this.flights.delete(key);
        }
      })();
      created.promise.catch(() => undefined);
      this.flights.set(key, created);
      flight = created;
    }
    const joined = flight;
    joined.waiters++;
    let left = false;
    /** Leaves the flight; true when this caller was the last and so stopped the work. */
    const leave = (): boolean => {
      if (left) return false;
      left = true;
      joined.waiters--;
      if (joined.waiters === 0 && this.flights.get(key) === joined) {
        joined.controller.abort(signal?.reason);
        this.flights.delete(key);
        return true;
      }
      return false;
    };
    try {
      if (!signal) return await joined.promise;
      return await new Promise<T>((resolve, reject) => {
        const onAbort = (): void => {
          const err = fromAbort(signal.reason, signal);
          if (leave())
            joined.promise.then(
              () => reject(err),
              () => reject(err),
            );
          else reject(err);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        joined.promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });
    } finally {
      if (!left) {
        left = true;
        joined.waiters--;
      }
    }
  }

  /** True while a flight for `key` runs. */
  has(key: string): boolean {
    return this.flights.has(key);
  }
}
