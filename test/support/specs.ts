/** Domain specs with kubelet-like defaults, shared by the tests that drive pkg/mesos without pkg/cri. */
import type { PodSpec } from '../../pkg/containerizer/index.js';

/** A pod with its own network and IPC, a PID namespace per container, and nothing else set. */
export function basePodSpec(over: Partial<PodSpec> & Pick<PodSpec, 'id' | 'name'>): PodSpec {
  return {
    namespace: 'default',
    uid: over.id.slice(0, 8),
    attempt: 0,
    hostname: over.name,
    logDirectory: '',
    dns: undefined,
    portMappings: [],
    labels: {},
    annotations: {},
    cgroupParent: '',
    namespaces: { network: 'pod', pid: 'container', ipc: 'pod' },
    sysctls: {},
    privileged: false,
    seccomp: { type: 'runtime/default' },
    runAsUser: undefined,
    runAsGroup: undefined,
    supplementalGroups: [],
    readonlyRootfs: false,
    resources: undefined,
    runtimeHandler: '',
    ...over,
  };
}

/** CRI LinuxContainerResources with every limit unset and the given cgroup v2 `unified` settings. */
export function unifiedOnlyResources(unified: Record<string, string>) {
  return {
    cpuPeriod: 0n,
    cpuQuota: 0n,
    cpuShares: 0n,
    memoryLimitInBytes: 0n,
    memorySwapLimitInBytes: 0n,
    oomScoreAdj: 0n,
    cpusetCpus: '',
    cpusetMems: '',
    hugepageLimits: [],
    unified,
  };
}
