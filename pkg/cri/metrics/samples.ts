/**
 * Domain usage → CRI metric samples (ListPodSandboxMetrics). Every sample's label values follow its
 * descriptor's label keys in order (descriptors.ts); the timestamp is the usage's own sample time.
 */
import type { ContainerUsage } from '../../containerizer/index.js';
import type { ContainerMetrics, Metric, PodSandboxMetrics } from '../gen/cri/v1/api.js';
import { CONTAINER_METRICS, type MetricDef, POD_METRICS } from './descriptors.js';

/** Who a container's samples describe. */
export interface ContainerIdentity {
  id: string;
  name: string;
  image: string;
}

function sample(def: MetricDef, ts: bigint, labels: string[], value: number | bigint): Metric {
  return { name: def.name, timestamp: ts, metricType: def.type, labelValues: labels, value: { value: BigInt(value) } };
}

/** The samples of one container from its usage. */
export function containerMetrics(who: ContainerIdentity, u: ContainerUsage): ContainerMetrics {
  const base = [who.id, who.name, who.image];
  const ts = u.timestampNs;
  const m = CONTAINER_METRICS;
  const metrics: Metric[] = [
    sample(m.cpuUsage, ts, [...base, 'total'], u.cpuUsageCoreNs / 1_000_000_000n),
    sample(m.memoryUsage, ts, base, u.memoryUsageBytes),
    sample(m.workingSet, ts, base, u.memoryWorkingSetBytes),
    sample(m.rss, ts, base, u.memoryRssBytes),
    sample(m.failures, ts, [...base, 'pgfault', 'container'], u.pageFaults),
    sample(m.failures, ts, [...base, 'pgmajfault', 'container'], u.majorPageFaults),
    sample(m.threads, ts, base, u.pids),
  ];
  if (u.processes !== undefined) metrics.push(sample(m.processes, ts, base, u.processes));
  if (u.writableLayerMountpoint !== '') {
    const dev = [...base, u.writableLayerMountpoint];
    metrics.push(sample(m.fsUsage, ts, dev, u.writableLayerBytes), sample(m.fsInodes, ts, dev, u.writableLayerInodes));
  }
  return { containerId: who.id, metrics };
}

/** The samples of one pod: its network counters and its containers' samples. */
export function podMetrics(
  podId: string,
  usage: ContainerUsage | undefined,
  containers: ContainerMetrics[],
): PodSandboxMetrics {
  const metrics: Metric[] = [];
  for (const i of usage?.network ?? []) {
    const ts = usage!.timestampNs;
    const p = POD_METRICS;
    metrics.push(
      sample(p.rxBytes, ts, [i.name], i.rxBytes),
      sample(p.rxErrors, ts, [i.name], i.rxErrors),
      sample(p.txBytes, ts, [i.name], i.txBytes),
      sample(p.txErrors, ts, [i.name], i.txErrors),
    );
  }
  return { podSandboxId: podId, metrics, containerMetrics: containers };
}
