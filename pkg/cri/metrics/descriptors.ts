/**
 * The CRI metrics ucri reports (ListMetricDescriptors), under the cAdvisor names kubelet's
 * `/metrics/cadvisor` endpoint serves, so dashboards built on cAdvisor keep working when kubelet takes them
 * from the runtime (PodAndContainerStatsFromCRI). Only figures the cgroups and the pod's network
 * namespace really give are listed.
 */
import { type MetricDescriptor, MetricType } from '../gen/cri/v1/api.js';

/** Labels of every container metric: the container id, its name and its image reference. */
export const CONTAINER_LABELS = ['id', 'name', 'image'] as const;
/** Labels of the pod's network metrics. */
export const NETWORK_LABELS = ['interface'] as const;

export interface MetricDef {
  name: string;
  help: string;
  type: MetricType;
  /** Extra label keys after the base ones (container labels or network labels). */
  labels: readonly string[];
}

export const CONTAINER_METRICS = {
  cpuUsage: {
    name: 'container_cpu_usage_seconds_total',
    help: 'Cumulative CPU time consumed, in whole seconds.',
    type: MetricType.COUNTER,
    labels: [...CONTAINER_LABELS, 'cpu'],
  },
  memoryUsage: {
    name: 'container_memory_usage_bytes',
    help: 'Current memory usage in bytes, including all memory regardless of when it was accessed.',
    type: MetricType.GAUGE,
    labels: CONTAINER_LABELS,
  },
  workingSet: {
    name: 'container_memory_working_set_bytes',
    help: 'Current working set in bytes (usage minus inactive file cache).',
    type: MetricType.GAUGE,
    labels: CONTAINER_LABELS,
  },
  rss: {
    name: 'container_memory_rss',
    help: 'Size of RSS (anonymous memory and swap cache) in bytes.',
    type: MetricType.GAUGE,
    labels: CONTAINER_LABELS,
  },
  failures: {
    name: 'container_memory_failures_total',
    help: 'Cumulative count of memory allocation failures (page faults; scope container, type pgfault or pgmajfault).',
    type: MetricType.COUNTER,
    labels: [...CONTAINER_LABELS, 'failure_type', 'scope'],
  },
  threads: {
    name: 'container_threads',
    help: 'Number of threads running inside the container.',
    type: MetricType.GAUGE,
    labels: CONTAINER_LABELS,
  },
  processes: {
    name: 'container_processes',
    help: 'Number of processes running inside the container.',
    type: MetricType.GAUGE,
    labels: CONTAINER_LABELS,
  },
  fsUsage: {
    name: 'container_fs_usage_bytes',
    help: "Number of bytes consumed by the container's writable layer.",
    type: MetricType.GAUGE,
    labels: [...CONTAINER_LABELS, 'device'],
  },
  fsInodes: {
    name: 'container_fs_inodes_total',
    help: "Number of inodes used by the container's writable layer.",
    type: MetricType.GAUGE,
    labels: [...CONTAINER_LABELS, 'device'],
  },
} satisfies Record<string, MetricDef>;

export const POD_METRICS = {
  rxBytes: {
    name: 'container_network_receive_bytes_total',
    help: 'Cumulative count of bytes received.',
    type: MetricType.COUNTER,
    labels: NETWORK_LABELS,
  },
  rxErrors: {
    name: 'container_network_receive_errors_total',
    help: 'Cumulative count of errors encountered while receiving.',
    type: MetricType.COUNTER,
    labels: NETWORK_LABELS,
  },
  txBytes: {
    name: 'container_network_transmit_bytes_total',
    help: 'Cumulative count of bytes transmitted.',
    type: MetricType.COUNTER,
    labels: NETWORK_LABELS,
  },
  txErrors: {
    name: 'container_network_transmit_errors_total',
    help: 'Cumulative count of errors encountered while transmitting.',
    type: MetricType.COUNTER,
    labels: NETWORK_LABELS,
  },
} satisfies Record<string, MetricDef>;

/** Every descriptor, container metrics first. */
export function metricDescriptors(): MetricDescriptor[] {
  return [...Object.values(CONTAINER_METRICS), ...Object.values(POD_METRICS)].map((m) => ({
    name: m.name,
    help: m.help,
    labelKeys: [...m.labels],
  }));
}
