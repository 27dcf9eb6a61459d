/**
 * CRI → domain for pod sandboxes: a RunPodSandbox request becomes the PodSpec the containerizer runs.
 * The request has been validated (validate/runtime.ts), so required fields are present here.
 */
import type { PodSpec } from '../../containerizer/index.js';
import { NamespaceMode, type NamespaceOption, type PodSandboxConfig, Protocol } from '../gen/cri/v1/api.js';
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

/** RunPodSandbox config → PodSpec. */
export function toPodSpec(id: string, config: PodSandboxConfig, runtimeHandler: string): PodSpec {
  const md = config.metadata!;
  const sc = config.linux?.securityContext;
  const res = config.linux?.resources ?? config.linux?.overhead;
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
    resources: res ? toResources(res) : undefined,
    runtimeHandler,
  };
}
