/**
 * CRI → domain for containers: a CreateContainer request (with the resolved image and its pod) becomes the
 * ContainerSpec the containerizer runs, and CRI resources become domain Resources (and back).
 */
import path from 'node:path';
import type {
  ContainerSpec,
  NamespaceMode as DomainNamespaceMode,
  MountSpec,
  PodSpec,
  Resources,
  SeccompProfile,
} from '../../containerizer/index.js';
import {
  type ContainerConfig,
  type LinuxContainerResources,
  type Mount,
  MountPropagation,
  NamespaceMode,
  type SecurityProfile,
  SecurityProfile_ProfileType,
} from '../gen/cri/v1/api.js';
import { NotFoundError } from '../../util/index.js';

/** CRI NamespaceMode → domain. */
export function namespaceMode(m: NamespaceMode): DomainNamespaceMode {
  switch (m) {
    case NamespaceMode.CONTAINER:
      return 'container';
    case NamespaceMode.NODE:
      return 'node';
    case NamespaceMode.TARGET:
      return 'target';
    default:
      return 'pod';
  }
}

/** Domain NamespaceMode → CRI. */
export function criNamespaceMode(m: DomainNamespaceMode): NamespaceMode {
  return {
    pod: NamespaceMode.POD,
    container: NamespaceMode.CONTAINER,
    node: NamespaceMode.NODE,
    target: NamespaceMode.TARGET,
  }[m];
}

/**
 * The seccomp profile kubelet asks for: the `seccomp` field when set, else the deprecated path field
 * (`runtime/default`, `docker/default`, `localhost/<path>`, `unconfined`); nothing set means unconfined,
 * as kubelet without the SeccompDefault feature expects.
 */
export function seccompProfile(p: SecurityProfile | undefined, legacyPath: string): SeccompProfile {
  if (p) {
    if (p.profileType === SecurityProfile_ProfileType.RuntimeDefault) return { type: 'runtime/default' };
    if (p.profileType === SecurityProfile_ProfileType.Localhost) return { type: 'localhost', path: p.localhostRef };
    return { type: 'unconfined' };
  }
  if (legacyPath === 'runtime/default' || legacyPath === 'docker/default') return { type: 'runtime/default' };
  if (legacyPath.startsWith('localhost/')) return { type: 'localhost', path: legacyPath.slice('localhost/'.length) };
  return { type: 'unconfined' };
}

/** CRI LinuxContainerResources → domain Resources (CRI int64 limits fit a double exactly up to 2^53). */
export function toResources(r: LinuxContainerResources | undefined): Resources {
  return {
    cpuPeriod: Number(r?.cpuPeriod ?? 0n),
    cpuQuota: Number(r?.cpuQuota ?? 0n),
    cpuShares: Number(r?.cpuShares ?? 0n),
    memoryLimitBytes: Number(r?.memoryLimitInBytes ?? 0n),
    memorySwapLimitBytes: Number(r?.memorySwapLimitInBytes ?? 0n),
    oomScoreAdj: Number(r?.oomScoreAdj ?? 0n),
    cpusetCpus: r?.cpusetCpus ?? '',
    cpusetMems: r?.cpusetMems ?? '',
    hugepageLimits: (r?.hugepageLimits ?? []).map((h) => ({ pageSize: h.pageSize, limit: Number(h.limit) })),
    unified: { ...(r?.unified ?? {}) },
  };
}

/** Domain Resources → CRI LinuxContainerResources. */
export function toCriResources(r: Resources): LinuxContainerResources {
  return {
    cpuPeriod: BigInt(r.cpuPeriod),
    cpuQuota: BigInt(r.cpuQuota),
    cpuShares: BigInt(r.cpuShares),
    memoryLimitInBytes: BigInt(r.memoryLimitBytes),
    memorySwapLimitInBytes: BigInt(r.memorySwapLimitBytes),
    oomScoreAdj: BigInt(r.oomScoreAdj),
    cpusetCpus: r.cpusetCpus,
    cpusetMems: r.cpusetMems,
    hugepageLimits: r.hugepageLimits.map((h) => ({ pageSize: h.pageSize, limit: BigInt(h.limit) })),
    unified: { ...r.unified },
  };
}

const PROPAGATION: Record<number, MountSpec['propagation']> = {
  [MountPropagation.PROPAGATION_PRIVATE]: 'private',
  [MountPropagation.PROPAGATION_HOST_TO_CONTAINER]: 'rslave',
  [MountPropagation.PROPAGATION_BIDIRECTIONAL]: 'rshared',
};

/**
 * CRI Mount → domain. `imageIds` maps the image references of image volumes to the ids they resolved to
 * (the caller checked that each is in the store); an image volume is always read-only and private.
 */
export function toMountSpec(m: Mount, imageIds: ReadonlyMap<string, string> = new Map()): MountSpec {
  const ref = m.image?.image ?? '';
  if (ref !== '') {
    const id = imageIds.get(ref);
    if (id === undefined) throw new NotFoundError(`image "${ref}" of volume "${m.containerPath}" not found`);
    return {
      containerPath: m.containerPath,
      hostPath: '',
      readonly: true,
      propagation: 'private',
      recursiveReadOnly: false,
      image: { id, ref },
      imageSubPath: m.imageSubPath,
    };
  }
  return {
    containerPath: m.containerPath,
    hostPath: m.hostPath,
    readonly: m.readonly,
    propagation: PROPAGATION[m.propagation] ?? 'private',
    recursiveReadOnly: m.recursiveReadOnly,
  };
}

/** Domain MountSpec → CRI Mount, for ContainerStatus. */
export function toCriMount(m: MountSpec): Mount {
  const propagation =
    m.propagation === 'rshared'
      ? MountPropagation.PROPAGATION_BIDIRECTIONAL
      : m.propagation === 'rslave'
        ? MountPropagation.PROPAGATION_HOST_TO_CONTAINER
        : MountPropagation.PROPAGATION_PRIVATE;
  return {
    containerPath: m.containerPath,
    hostPath: m.hostPath,
    readonly: m.readonly,
    selinuxRelabel: false,
    propagation,
    uidMappings: [],
    gidMappings: [],
    recursiveReadOnly: m.recursiveReadOnly,
    image: m.image
      ? {
          image: m.image.ref,
          annotations: {},
          userSpecifiedImage: m.image.ref,
          runtimeHandler: '',
          imageRef: m.image.id,
        }
      : undefined,
    imageSubPath: m.imageSubPath ?? '',
    mountOptions: [],
  };
}

/**
 * The container's log file: the pod's log directory joined with the container's relative log path; no log
 * when either is empty (kubelet always sets both).
 */
export function logPathOf(pod: PodSpec, config: ContainerConfig): string {
  if (!pod.logDirectory || !config.logPath) return '';
  return path.join(pod.logDirectory, config.logPath);
}

/**
 * CreateContainer config → ContainerSpec. `image` is the resolved image (id and the reference asked for);
 * `imageIds` maps the references of image volumes to their ids.
 */
export function toContainerSpec(
  id: string,
  pod: PodSpec,
  config: ContainerConfig,
  image: { id: string; ref: string },
  imageIds: ReadonlyMap<string, string> = new Map(),
): ContainerSpec {
  const md = config.metadata!;
  const sc = config.linux?.securityContext;
  const ns = sc?.namespaceOptions;
  return {
    id,
    podId: pod.id,
    name: md.name,
    attempt: md.attempt,
    image,
    command: [...config.command],
    args: [...config.args],
    workingDir: config.workingDir,
    env: config.envs.map((e) => ({ key: e.key, value: Buffer.from(e.value).toString('utf8') })),
    mounts: config.mounts.map((m) => toMountSpec(m, imageIds)),
    devices: config.devices.map((d) => ({
      containerPath: d.containerPath,
      hostPath: d.hostPath,
      permissions: d.permissions,
    })),
    labels: { ...config.labels },
    annotations: { ...config.annotations },
    logPath: logPathOf(pod, config),
    stdin: config.stdin,
    stdinOnce: config.stdinOnce,
    tty: config.tty,
    resources: toResources(config.linux?.resources),
    privileged: sc?.privileged ?? false,
    capabilities: {
      add: [...(sc?.capabilities?.addCapabilities ?? [])],
      drop: [...(sc?.capabilities?.dropCapabilities ?? [])],
    },
    // Without options of its own a container follows its pod's choices (kubelet always sends them).
    namespaces: ns
      ? {
          pid: namespaceMode(ns.pid),
          ipc: namespaceMode(ns.ipc),
          network: namespaceMode(ns.network),
          targetId: ns.targetId,
        }
      : { ...pod.namespaces, targetId: '' },
    runAsUser: sc?.runAsUser ? Number(sc.runAsUser.value) : undefined,
    runAsGroup: sc?.runAsGroup ? Number(sc.runAsGroup.value) : undefined,
    runAsUsername: sc?.runAsUsername ?? '',
    supplementalGroups: (sc?.supplementalGroups ?? []).map(Number),
    readonlyRootfs: sc?.readonlyRootfs ?? false,
    noNewPrivs: sc?.noNewPrivs ?? false,
    // kubelet sends empty lists for "runtime default" and leaves them out entirely only for privileged.
    maskedPaths: sc && sc.maskedPaths.length > 0 ? [...sc.maskedPaths] : undefined,
    readonlyPaths: sc && sc.readonlyPaths.length > 0 ? [...sc.readonlyPaths] : undefined,
    seccomp: seccompProfile(sc?.seccomp, sc?.seccompProfilePath ?? ''),
    sysctls: {},
  };
}
