/**
 * The isolator contract (Mesos `Isolator`, include/mesos/slave/isolator.hpp), reshaped for pods.
 *
 * Isolators live in one ordered table (isolators/index.ts, `--isolation`). The containerizer calls them:
 *
 *   runPod:            setupPod       all at once         (e.g. cgroups: pod cgroup; network/cni: CNI ADD;
 *                                                         network/cni starts early: setupBeforeRecord)
 *   createContainer:   prepare        in table order  → LaunchInfo fragments, merged into the OCI spec
 *   startContainer:    isolate(pid)   in parallel, while the container's init is blocked in `runc create`
 *   removeContainer:   cleanup        in reverse order, after the processes are gone
 *   stopPod:           teardownPod    in reverse order    (network/cni: CNI DEL, retried until it succeeds)
 *   removePod:         cleanupPod     in reverse order
 *   start-up:          recover        with the pods and containers that have records
 *   Status:            condition      every call (e.g. network/cni: is there a usable CNI config?)
 *
 * Every hook is optional (a missing hook is a no-op). cleanup/teardownPod/cleanupPod are idempotent and
 * tolerate ids they never saw. Isolators never import each other; what one needs from another travels in
 * the contexts below.
 */
import type { Condition, ContainerSpec, ContainerUsage, PodSpec, Resources } from '../containerizer/index.js';
import type { ImageConfig } from '../containerizer/index.js';
import type { LinuxDevice, LinuxNamespace, LinuxResources, Mount, POSIXRlimit, LinuxSeccomp } from '../oci/index.js';

/** Facts about a pod that the containerizer and isolators build up in runPod, checkpointed with the pod. */
export interface PodState {
  id: string;
  /** Pinned namespace files (absent for host namespaces). */
  netns?: string;
  ipcns?: string;
  utsns?: string;
  /** Directory of the pod's runtime files (hosts, resolv.conf, hostname, shm). */
  dir: string;
  /** The pod's cgroup path, relative to the hierarchy (e.g. `ucri/<podId>` or kubelet's parent). */
  cgroup: string;
  /** IPs from CNI, primary first. */
  ips: string[];
  /** Pid of the infra process that holds a shared PID namespace (pid mode `pod`), else 0. For information only. */
  infraPid: number;
  /**
   * The pinned pid namespace of the infra process (pid mode `pod`): containers join this path, never
   * `/proc/<infraPid>/ns/pid`, since that pid may belong to another process once the infra has died.
   */
  pidns?: string;
  /** Per-isolator data to keep across restarts (e.g. CNI results), keyed by isolator name. */
  data: Record<string, unknown>;
}

export interface PodContext {
  spec: PodSpec;
  state: PodState;
}

export interface ContainerContext {
  spec: ContainerSpec;
  pod: PodContext;
  /** The image config (Docker/OCI or AppC), from the provisioner. */
  image: { config: ImageConfig; kind: 'docker' | 'appc' };
  /**
   * The provisioned root filesystem. In `prepare` its content may not be there yet (the overlay is mounted at
   * start, docs/performance.md "CreateContainer and StartContainer, phase 6b"): an isolator that reads it
   * calls `mountRootfs` first.
   */
  rootfs: string;
  /**
   * Set only in `prepare`: mounts the rootfs if it is not mounted yet (idempotent; it then stays mounted, and
   * the start finds it so). Absent means the rootfs is readable as it is.
   */
  mountRootfs?: () => Promise<void>;
  /**
   * Set only in `prepare` of a create whose rootfs is exactly its image's layers as provisioned just now
   * (nothing written to it yet: no checkpoint restored into it): names that content (backend, image id,
   * layer dirs), so an isolator may keep what it read from the rootfs for the next container with the same
   * key. The store's layer dirs are never written after extraction, and a re-pulled image gets the same
   * content under the same key or new dirs under a new one.
   */
  rootfsKey?: string;
  /** Directory of this container's runtime files (bundle dir). */
  dir: string;
  /** The container's cgroup path, relative to the hierarchy. */
  cgroup: string;
  /** Pid of the init of the target container when `spec.namespaces.pid` is `target` (namespaces/pid joins it). */
  targetPid?: number;
}

/**
 * One isolator's contribution to a container's launch (Mesos `ContainerLaunchInfo`). The containerizer
 * merges fragments in table order: lists are appended, env later-wins, and single-owner fields (command,
 * workingDir, user, capabilities, seccomp, rlimits, tty) may be set by one isolator only — a second owner is
 * an internal error naming both isolators.
 */
export interface LaunchInfo {
  /** argv (full, argv[0] included). */
  command?: string[];
  workingDir?: string;
  env?: Array<{ key: string; value: string }>;
  user?: { uid: number; gid: number; additionalGids: number[]; umask?: number };
  mounts?: Mount[];
  /** Namespaces to create (no path) or join (path). */
  namespaces?: LinuxNamespace[];
  maskedPaths?: string[];
  readonlyPaths?: string[];
  capabilities?: {
    bounding: string[];
    effective: string[];
    permitted: string[];
    inheritable: string[];
    ambient: string[];
  };
  noNewPrivileges?: boolean;
  seccomp?: LinuxSeccomp | null;
  rlimits?: POSIXRlimit[];
  sysctl?: Record<string, string>;
  resources?: LinuxResources;
  devices?: LinuxDevice[];
  oomScoreAdj?: number;
  readonlyRootfs?: boolean;
  hostname?: string;
  annotations?: Record<string, string>;
  /** OCI `linux.cgroupsPath`; several isolators (cgroups/*) may set it, but they must agree. */
  cgroupsPath?: string;
  /** OCI `linux.rootfsPropagation`; the strongest asked for wins (rshared over rslave over the rest). */
  rootfsPropagation?: 'private' | 'rprivate' | 'slave' | 'rslave' | 'shared' | 'rshared';
}

/** An isolator's readiness, feeding one of the CRI conditions (`network`: NetworkReady, `runtime`: RuntimeReady). */
export interface IsolatorCondition extends Condition {
  type: 'runtime' | 'network';
}

/** Why an isolator ended a container (Mesos `ContainerLimitation`), e.g. `{ reason: 'OOMKilled' }`. */
export interface Limitation {
  reason: string;
  message: string;
}

export interface Isolator {
  /** Its `--isolation` name, e.g. `cgroups/mem`; equal to its file path under isolators/. */
  readonly name: string;
  recover?(pods: PodContext[], containers: ContainerContext[]): Promise<void>;
  /**
   * True when setupPod may be called before the pod's record of intent is durable and its namespaces are
   * pinned (network/cni, to write its own checkpoint meanwhile). It is then given `ready`, which resolves
   * once both are, and makes nothing but its own checkpoints (which its recovery undoes) before `ready` has
   * resolved, nor anything at all if it rejects. Other isolators are called once `ready` has resolved.
   */
  readonly setupBeforeRecord?: boolean;
  setupPod?(pod: PodContext, signal: AbortSignal, ready?: Promise<void>): Promise<void>;
  prepare?(ctx: ContainerContext, signal: AbortSignal): Promise<LaunchInfo | undefined>;
  isolate?(ctx: ContainerContext, pid: number, signal: AbortSignal): Promise<void>;
  update?(ctx: ContainerContext, resources: Resources, signal: AbortSignal): Promise<void>;
  /** New pod-level limits (overhead + the containers' sum) on a ready pod; idempotent; containers keep running. */
  updatePod?(pod: PodContext, resources: Resources, signal: AbortSignal): Promise<void>;
  usage?(ctx: ContainerContext): Promise<Partial<ContainerUsage>>;
  /**
   * Asked once the container's process has ended and before its cgroup is removed (`runc delete`): a
   * limitation that ended it, else undefined (Mesos `watch`). cgroups/mem answers `OOMKilled`.
   */
  limitation?(ctx: ContainerContext): Promise<Limitation | undefined>;
  cleanup?(ctx: ContainerContext): Promise<void>;
  teardownPod?(pod: PodContext, signal: AbortSignal): Promise<void>;
  cleanupPod?(pod: PodContext): Promise<void>;
  /**
   * Whether what this isolator needs from the host is in place, asked at every CRI Status and re-checked each
   * time (no restart needed when the host changes). Must not throw: a problem is a not-ready answer.
   */
  condition?(): Promise<IsolatorCondition>;
}
