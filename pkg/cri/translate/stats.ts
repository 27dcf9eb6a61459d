/**
 * Domain usage → CRI stats messages (ContainerStats, PodSandboxStats).
 */
import type { ContainerUsage } from '../../containerizer/index.js';
import type { ContainerStats, CpuUsage, MemoryUsage, NetworkUsage, PodSandboxStats } from '../gen/cri/v1/api.js';
import type { ContainerRecord } from '../store/container.js';
import type { SandboxRecord } from '../store/sandbox.js';

const u64 = (v: number | bigint) => ({ value: BigInt(v) });

function cpu(u: ContainerUsage): CpuUsage {
  // usage_nano_cores needs two samples over time; kubelet computes it itself when it is absent.
  return {
    timestamp: u.timestampNs,
    usageCoreNanoSeconds: u64(u.cpuUsageCoreNs),
    usageNanoCores: undefined,
    psi: undefined,
  };
}

/** The pod's interfaces: eth0 (or the first) is the default one, as kubelet expects. */
function network(u: ContainerUsage): NetworkUsage | undefined {
  if (!u.network || u.network.length === 0) return undefined;
  const all = u.network.map((i) => ({
    name: i.name,
    rxBytes: u64(i.rxBytes),
    rxErrors: u64(i.rxErrors),
    txBytes: u64(i.txBytes),
    txErrors: u64(i.txErrors),
  }));
  const def = all.find((i) => i.name === 'eth0') ?? all[0]!;
  return { timestamp: u.timestampNs, defaultInterface: def, interfaces: all.filter((i) => i !== def) };
}

function memory(u: ContainerUsage): MemoryUsage {
  return {
    timestamp: u.timestampNs,
    workingSetBytes: u64(u.memoryWorkingSetBytes),
    availableBytes: undefined,
    usageBytes: u64(u.memoryUsageBytes),
    rssBytes: u64(u.memoryRssBytes),
    pageFaults: u64(u.pageFaults),
    majorPageFaults: u64(u.majorPageFaults),
    psi: undefined,
  };
}

/** ContainerStats of a container; `usage` undefined (not running) gives attributes only. */
export function toContainerStats(rec: ContainerRecord, usage: ContainerUsage | undefined): ContainerStats {
  const s = rec.meta.spec;
  return {
    attributes: {
      id: rec.meta.id,
      metadata: { name: s.name, attempt: s.attempt },
      labels: { ...s.labels },
      annotations: { ...s.annotations },
    },
    cpu: usage ? cpu(usage) : undefined,
    memory: usage ? memory(usage) : undefined,
    writableLayer: usage
      ? {
          timestamp: usage.timestampNs,
          fsId: { mountpoint: usage.writableLayerMountpoint },
          usedBytes: u64(usage.writableLayerBytes),
          inodesUsed: u64(usage.writableLayerInodes),
        }
      : undefined,
    swap: undefined,
    io: undefined,
  };
}

/** PodSandboxStats of a pod with the stats of its containers; `usage` undefined gives attributes only. */
export function toPodSandboxStats(
  rec: SandboxRecord,
  usage: ContainerUsage | undefined,
  containers: ContainerStats[],
): PodSandboxStats {
  const s = rec.meta.spec;
  return {
    attributes: {
      id: rec.meta.id,
      metadata: { name: s.name, uid: s.uid, namespace: s.namespace, attempt: s.attempt },
      labels: { ...s.labels },
      annotations: { ...s.annotations },
    },
    linux: {
      cpu: usage ? cpu(usage) : undefined,
      memory: usage ? memory(usage) : undefined,
      network: usage ? network(usage) : undefined,
      process: usage ? { timestamp: usage.timestampNs, processCount: u64(usage.pids) } : undefined,
      containers,
      io: undefined,
    },
    windows: undefined,
  };
}
