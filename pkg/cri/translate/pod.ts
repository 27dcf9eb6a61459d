/**
 * CRI → domain for pod sandboxes: a RunPodSandbox request becomes the PodSpec the containerizer runs.
 * The request has been validated (validate/runtime.ts), so required fields are present here.
 */
import type { PodSpec, Resources } from '../../containerizer/index.js';
import {
  type LinuxContainerResources,
  NamespaceMode,
  type NamespaceOption,
  type PodSandboxConfig,
  Protocol,
} from '../gen/cri/v1/api.js';
import { seccompProfile, toResources } from './container.js';

/** The pod's namespace choices; CRI `TARGET` and `CONTAINER` are not pod-level network/ipc modes. */
export function podNamespaces(o: NamespaceOption | undefined): PodSpec['namespaces'] {
  const pid = o?.pid === NamespaceMode.NODE ? 'node' : o?.pid === NamespaceMode.CONTAINER ? 'container' : 'pod';
  return {
    network: o?.network === NamespaceMode.NODE ? 'node' : 'pod',
    pid,
    ipc: o?.ipc === NamespaceMode.NODE ? 'node' : 'pod',
  };
}

const PROTOCOLS: Record<number, 'tcp' | 'udp' | 'sctp'> = {
  [Protocol.TCP]: 'tcp',
  [Protocol.UDP]: 'udp',
  [Protocol.SCTP]: 'sctp',
};

/**
 * The pod cgroup's limits from the CRI pair kubelet sends (RunPodSandbox and UpdatePodSandboxResources):
 * the sandbox overhead plus the sum of the containers' resources. Weights and limits add up; a limit the
 * containers do not set stays unset (no pod limit), whatever the overhead; quotas are added over the
 * containers' CFS period. With only one of the two given, that one is the pod's.
 */
export function podResources(
  overhead: LinuxContainerResources | undefined,
  resources: LinuxContainerResources | undefined,
): Resources | undefined {
  if (!overhead || !resources) {
    const one = resources ?? overhead;
    return one ? toResources(one) : undefined;
  }
  const o = toResources(overhead);
  const r = toResources(resources);
  const period = r.cpuPeriod || o.cpuPeriod || 100_000;
  const oQuota = o.cpuQuota > 0 ? Math.round((o.cpuQuota * period) / (o.cpuPeriod || 100_000)) : 0;
  return {
    ...r,
    cpuShares: o.cpuShares + r.cpuShares,
    cpuPeriod: r.cpuPeriod || o.cpuPeriod,
    cpuQuota: r.cpuQuota > 0 ? r.cpuQuota + oQuota : r.cpuQuota,
    memoryLimitBytes: r.memoryLimitBytes > 0 ? r.memoryLimitBytes + Math.max(o.memoryLimitBytes, 0) : 0,
    memorySwapLimitBytes: r.memorySwapLimitBytes > 0 ? r.memorySwapLimitBytes + Math.max(o.memorySwapLimitBytes, 0) : 0,
    unified: { ...o.unified, ...r.unified },
  };
}

/** RunPodSandbox config → PodSpec. */
export function toPodSpec(id: string, config: PodSandboxConfig, runtimeHandler: string): PodSpec {
  const md = config.metadata!;
  const sc = config.linux?.securityContext;
  return {
    id,
    name: md.name,
    namespace: md.namespace,
    uid: md.uid,
    attempt: md.attempt,
    hostname: config.hostname,
    logDirectory: config.logDirectory,
    dns: config.dnsConfig
      ? {
          servers: [...config.dnsConfig.servers],
          searches: [...config.dnsConfig.searches],
          options: [...config.dnsConfig.options],
        }
      : undefined,
    portMappings: config.portMappings.map((p) => ({
      protocol: PROTOCOLS[p.protocol] ?? 'tcp',
      containerPort: p.containerPort,
      hostPort: p.hostPort,
      hostIp: p.hostIp,
    })),
    labels: { ...config.labels },
    annotations: { ...config.annotations },
    cgroupParent: config.linux?.cgroupParent ?? '',
    namespaces: podNamespaces(sc?.namespaceOptions),
    sysctls: { ...(config.linux?.sysctls ?? {}) },
    privileged: sc?.privileged ?? false,
    seccomp: seccompProfile(sc?.seccomp, sc?.seccompProfilePath ?? ''),
    runAsUser: sc?.runAsUser ? Number(sc.runAsUser.value) : undefined,
    runAsGroup: sc?.runAsGroup ? Number(sc.runAsGroup.value) : undefined,
    supplementalGroups: (sc?.supplementalGroups ?? []).map(Number),
    readonlyRootfs: sc?.readonlyRootfs ?? false,
    resources: podResources(config.linux?.overhead, config.linux?.resources),
    runtimeHandler,
  };
}
