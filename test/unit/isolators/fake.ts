/** Fake pod and container contexts for isolator unit tests: every field filled, overridable. */
import type { ContainerSpec, ImageConfig, PodSpec, Resources } from '../../../pkg/containerizer/index.js';
import type { ContainerContext, PodContext } from '../../../pkg/mesos/isolator.js';
import { basePodSpec } from '../../support/specs.js';
import { emptyImageConfig } from '../../../pkg/containerizer/index.js';

export function resources(over: Partial<Resources> = {}): Resources {
  return {
    cpuPeriod: 0,
    cpuQuota: 0,
    cpuShares: 0,
    memoryLimitBytes: 0,
    memorySwapLimitBytes: 0,
    oomScoreAdj: 0,
    cpusetCpus: '',
    cpusetMems: '',
    hugepageLimits: [],
    unified: {},
    ...over,
  };
}

export function podSpec(over: Partial<PodSpec> = {}): PodSpec {
  return basePodSpec({ id: 'a'.repeat(64), name: 'web', uid: 'uid-1', hostname: 'web-0', ...over });
}

export function pod(spec: Partial<PodSpec> = {}, state: Partial<PodContext['state']> = {}): PodContext {
  const s = podSpec(spec);
  return {
    spec: s,
    state: {
      id: s.id,
      netns: '/run/ucri/ns/pod/net',
      ipcns: '/run/ucri/ns/pod/ipc',
      utsns: '/run/ucri/ns/pod/uts',
      dir: '/run/ucri/pods/pod',
      cgroup: '',
      ips: [],
      infraPid: 0,
      data: {},
      ...state,
    },
  };
}

export function containerSpec(over: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    id: 'b'.repeat(64),
    podId: 'a'.repeat(64),
    name: 'app',
    attempt: 0,
    image: { id: 'sha256:00', ref: 'docker.io/library/busybox:latest' },
    command: [],
    args: [],
    workingDir: '',
    env: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    logPath: '',
    stdin: false,
    stdinOnce: false,
    tty: false,
    resources: resources(),
    privileged: false,
    capabilities: { add: [], drop: [] },
    namespaces: { pid: 'container', ipc: 'pod', network: 'pod', targetId: '' },
    runAsUser: undefined,
    runAsGroup: undefined,
    runAsUsername: '',
    supplementalGroups: [],
    readonlyRootfs: false,
    noNewPrivs: false,
    maskedPaths: undefined,
    readonlyPaths: undefined,
    seccomp: { type: 'runtime/default' },
    sysctls: {},
    ...over,
  };
}

export function imageConfig(over: Partial<ImageConfig> = {}): ImageConfig {
  return { ...emptyImageConfig(), cmd: ['sh'], env: ['PATH=/usr/bin:/bin'], ...over };
}

export function ctx(
  over: {
    spec?: Partial<ContainerSpec>;
    pod?: PodContext;
    image?: Partial<ImageConfig>;
    kind?: 'docker' | 'appc';
    rootfs?: string;
  } = {},
): ContainerContext {
  return {
    spec: containerSpec(over.spec),
    pod: over.pod ?? pod(),
    image: { config: imageConfig(over.image), kind: over.kind ?? 'docker' },
    rootfs: over.rootfs ?? '/nonexistent-rootfs',
    dir: '/run/ucri/containers/c',
    cgroup: '',
  };
}

export const signal = new AbortController().signal;
