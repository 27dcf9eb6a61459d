/** CRI metrics (cAdvisor names) and, in prometheus.ts, the daemon's own Prometheus metrics. */
export { metricDescriptors } from './descriptors.js';
export { type ContainerIdentity, containerMetrics, podMetrics } from './samples.js';
export { DaemonMetrics } from './prometheus.js';
