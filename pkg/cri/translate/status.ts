/**
 * Records → CRI: the status and list items of sandboxes and containers, and the event message built from
 * them. Pure functions of the records (and, for IPs, of what the containerizer reports now).
 */
import {
  type Container,
  type ContainerEventResponse,
  type ContainerEventType,
  ContainerState as CriContainerState,
  type ContainerStatus as CriContainerStatus,
  NamespaceMode,
  type PodSandbox,
  PodSandboxState,
  type PodSandboxStatus,
} from '../gen/cri/v1/api.js';
import type { ContainerRecord, ContainerState } from '../store/container.js';
import type { SandboxRecord, SandboxState } from '../store/sandbox.js';
import { toCriMount, toCriResources } from './container.js';

/** Store sandbox state → CRI. */
export function criSandboxState(s: SandboxState): PodSandboxState {
  return s === 'ready' ? PodSandboxState.SANDBOX_READY : PodSandboxState.SANDBOX_NOTREADY;
}

/** Store container state → CRI (a container still being created is reported as created). */
export function criContainerState(s: ContainerState): CriContainerState {
  switch (s) {
    case 'running':
      return CriContainerState.CONTAINER_RUNNING;
    case 'exited':
      return CriContainerState.CONTAINER_EXITED;
    case 'unknown':
      return CriContainerState.CONTAINER_UNKNOWN;
    default:
      return CriContainerState.CONTAINER_CREATED;
  }
}

function sandboxMetadata(rec: SandboxRecord) {
  const s = rec.meta.spec;
  return { name: s.name, uid: s.uid, namespace: s.namespace, attempt: s.attempt };
}

/** PodSandboxStatus of a record; `ips` are the pod's current IPs (primary first). */
export function toPodSandboxStatus(rec: SandboxRecord, ips: readonly string[]): PodSandboxStatus {
  const s = rec.meta.spec;
  const shown = rec.status.state === 'ready' ? ips : [];
  return {
    id: rec.meta.id,
    metadata: sandboxMetadata(rec),
    state: criSandboxState(rec.status.state),
    createdAt: rec.meta.createdAt,
    network: { ip: shown[0] ?? '', additionalIps: shown.slice(1).map((ip) => ({ ip })) },
    linux: {
      namespaces: {
        options: {
          network: s.namespaces.network === 'node' ? NamespaceMode.NODE : NamespaceMode.POD,
          pid:
            s.namespaces.pid === 'node'
              ? NamespaceMode.NODE
              : s.namespaces.pid === 'container'
                ? NamespaceMode.CONTAINER
                : NamespaceMode.POD,
          ipc: s.namespaces.ipc === 'node' ? NamespaceMode.NODE : NamespaceMode.POD,
          targetId: '',
          usernsOptions: undefined,
        },
      },
    },
    labels: { ...s.labels },
    annotations: { ...s.annotations },
    runtimeHandler: s.runtimeHandler,
  };
}

/** ListPodSandbox item of a record. */
export function toPodSandbox(rec: SandboxRecord): PodSandbox {
  return {
    id: rec.meta.id,
    metadata: sandboxMetadata(rec),
    state: criSandboxState(rec.status.state),
    createdAt: rec.meta.createdAt,
    labels: { ...rec.meta.spec.labels },
    annotations: { ...rec.meta.spec.annotations },
    runtimeHandler: rec.meta.spec.runtimeHandler,
  };
}

function imageSpec(rec: ContainerRecord) {
  return {
    image: rec.meta.image.display,
    annotations: {},
    userSpecifiedImage: rec.meta.image.requested,
    // The handler of the container's pod: which containerizer runs it (`ucri ps` shows it).
    runtimeHandler: rec.meta.runtimeHandler,
    imageRef: '',
  };
}

/** ListContainers item of a record. */
export function toContainer(rec: ContainerRecord): Container {
  const s = rec.meta.spec;
  return {
    id: rec.meta.id,
    podSandboxId: rec.meta.podId,
    metadata: { name: s.name, attempt: s.attempt },
    image: imageSpec(rec),
    imageRef: rec.meta.image.ref,
    imageId: rec.meta.image.id,
    state: criContainerState(rec.status.state),
    createdAt: rec.meta.createdAt,
    labels: { ...s.labels },
    annotations: { ...s.annotations },
  };
}

/** ContainerStatus of a record. */
export function toContainerStatus(rec: ContainerRecord): CriContainerStatus {
  const s = rec.meta.spec;
  const st = rec.status;
  const user = st.user;
  return {
    id: rec.meta.id,
    metadata: { name: s.name, attempt: s.attempt },
    state: criContainerState(st.state),
    createdAt: rec.meta.createdAt,
    startedAt: st.startedAt,
    finishedAt: st.finishedAt,
    exitCode: st.exitCode,
    image: imageSpec(rec),
    imageRef: rec.meta.image.ref,
    imageId: rec.meta.image.id,
    reason: st.reason,
    message: st.message,
    labels: { ...s.labels },
    annotations: { ...s.annotations },
    mounts: s.mounts.map(toCriMount),
    logPath: s.logPath,
    resources: { linux: toCriResources(st.resources), windows: undefined },
    user: user
      ? {
          linux: {
            uid: BigInt(user.uid),
            gid: BigInt(user.gid),
            supplementalGroups: user.supplementalGroups.map((g) => BigInt(g)),
          },
        }
      : undefined,
    stopSignal: 0,
  };
}

/** A GetContainerEvents message: the container's id, the pod's status and the statuses of its containers. */
export function toContainerEvent(
  containerId: string,
  type: ContainerEventType,
  createdAt: bigint,
  pod: SandboxRecord | undefined,
  ips: readonly string[],
  containers: readonly ContainerRecord[],
): ContainerEventResponse {
  return {
    containerId,
    containerEventType: type,
    createdAt,
    podSandboxStatus: pod ? toPodSandboxStatus(pod, ips) : undefined,
    containersStatuses: containers.filter((c) => c.status.state !== 'creating').map(toContainerStatus),
  };
}
