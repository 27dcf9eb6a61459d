/**
 * GetContainerEvents fan-out (kubelet's evented PLEG). Every subscriber has its own bounded queue; publishing
 * never waits for anyone. A subscriber whose queue is full is closed with RESOURCE_EXHAUSTED instead of
 * silently losing events: kubelet then re-lists and subscribes again, which is correct, whereas a gap in the
 * stream would leave it with a wrong picture of the node.
 */
import type { ContainerEventResponse } from './gen/cri/v1/api.js';
import { CancelledError, ResourceExhaustedError } from '../util/index.js';

/** Default queue length per subscriber: a burst of 20 pods × 4 events fits many times over. */
export const DEFAULT_EVENT_BUFFER = 1024;

/** One subscriber's view: pull events one at a time. */
export interface EventSubscription {
  /**
   * The next event; waits when none is queued. Rejects with ResourceExhausted when this subscriber fell
   * too far behind, with Cancelled when `signal` aborts or the subscription was closed.
   */
  next(signal: AbortSignal): Promise<ContainerEventResponse>;
  /** Ends the subscription (idempotent). */
  close(): void;
}

class Subscriber implements EventSubscription {
  private readonly queue: ContainerEventResponse[] = [];
  private waiter: { resolve: (e: ContainerEventResponse) => void; reject: (err: unknown) => void } | undefined;
  private failure: Error | undefined;

  constructor(
    private readonly limit: number,
    private readonly onClose: (s: Subscriber) => void,
  ) {}

  push(e: ContainerEventResponse): void {
    if (this.failure) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(e);
      return;
    }
    if (this.queue.length >= this.limit) {
      this.fail(new ResourceExhaustedError(`event subscriber fell more than ${this.limit} events behind`));
      return;
    }
    this.queue.push(e);
  }

  next(signal: AbortSignal): Promise<ContainerEventResponse> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    if (signal.aborted) return Promise.reject(new CancelledError('event stream cancelled'));
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.waiter = undefined;
        reject(new CancelledError('event stream cancelled'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiter = {
        resolve: (e) => {
          signal.removeEventListener('abort', onAbort);
          resolve(e);
        },
        reject: (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
    });
  }

  close(): void {
    this.fail(new CancelledError('event subscription closed'));
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.queue.length = 0;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
    this.onClose(this);
  }
}

/** The event bus the runtime verbs publish to. */
export class ContainerEvents {
  private readonly subscribers = new Set<Subscriber>();

  constructor(private readonly bufferSize = DEFAULT_EVENT_BUFFER) {}

  /** Starts a subscription; events published from now on are delivered to it in order. */
  subscribe(): EventSubscription {
    const s = new Subscriber(this.bufferSize, (x) => this.subscribers.delete(x));
    this.subscribers.add(s);
    return s;
  }

  /** Delivers `e` to every subscriber without waiting. */
  publish(e: ContainerEventResponse): void {
    for (const s of [...this.subscribers]) s.push(e);
  }

  /** Number of live subscriptions (for tests and verbose status). */
  get size(): number {
    return this.subscribers.size;
  }
}
