/** Waiting no longer than a signal allows. */
import { fromAbort } from './errors.js';

/**
 * Waits for `p`, but rejects as soon as `signal` aborts: with `onAbort()` when given, else with the domain
 * error matching the abort (Cancelled, DeadlineExceeded). `p` itself goes on: use it for work that must
 * finish (or be cleaned up by its owner) even when its client has gone. No signal: `p` as it is.
 */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined, onAbort?: () => unknown): Promise<T> {
  if (!signal) return p;
  const reason = onAbort ?? ((): unknown => fromAbort(new Error('aborted'), signal));
  if (signal.aborted) return Promise.reject(reason());
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(reason());
    signal.addEventListener('abort', abort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', abort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(err);
      },
    );
  });
}
