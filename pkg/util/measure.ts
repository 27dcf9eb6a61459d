/**
 * Measurements that lower layers report without knowing who collects them (the daemon's Prometheus
 * endpoint in pkg/cri/metrics subscribes when `--metrics_address` is set). Reporting with no subscriber
 * costs one array check.
 */

/** One finished operation worth measuring. */
export type Measurement =
  /** One CNI plugin invocation. */
  | { kind: 'cni'; command: string; plugin: string; seconds: number; ok: boolean }
  /** One image pull through the CRI (bytes: the pulled image's size). */
  | { kind: 'pull'; seconds: number; bytes: number; ok: boolean };

type Listener = (m: Measurement) => void;
const listeners: Listener[] = [];

/** Subscribes to every measurement; returns the unsubscribe function. */
export function onMeasurement(fn: Listener): () => void {
  listeners.push(fn);
  return () => {
    const i = listeners.indexOf(fn);
    if (i >= 0) listeners.splice(i, 1);
  };
}

/** Reports a measurement to the subscribers; a listener that throws never disturbs the caller. */
export function measure(m: Measurement): void {
  for (const fn of listeners) {
    try {
      fn(m);
    } catch {
      // a collector's failure is not the measured operation's
    }
  }
}

/** Seconds since a `process.hrtime.bigint()` start. */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}
