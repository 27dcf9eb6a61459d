/** CRI metrics (cAdvisor names) and, in prometheus.ts, the daemon's own Prometheus metrics. */
export { metricDescriptors } from './descriptors.js';
export { type ContainerIdentity, containerMetrics, podMetrics } from './samples.js';
export type { DaemonMetrics } from './prometheus.js';

/**
 * The Prometheus metrics class, loaded on first use: prom-client costs ~13 MiB of RSS, paid only by a daemon
 * whose metrics address is set.
 */
export async function loadDaemonMetrics(): Promise<typeof import('./prometheus.js').DaemonMetrics> {
  return (await import('./prometheus.js')).DaemonMetrics;
}
