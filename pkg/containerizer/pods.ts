/**
 * The pod and container side of the contract. pkg/cri translates CRI requests into these plain specs and
 * keeps the CRI records (metadata, labels, states, timestamps); a containerizer turns specs into running
 * processes and reports runtime facts back. Times are nanoseconds since the epoch as bigint.
 */

/** Where a namespace comes from: the pod's, the container's own, the host's, or another container's. */
export type NamespaceMode = 'pod' | 'container' | 'node' | 'target';

export interface PortMapping {
  protocol: 'tcp' | 'udp' | 'sctp';
  containerPort: number;
  hostPort: number;
  hostIp: string;
}

export interface DnsConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

/** Linux resources as CRI gives them (raw cgroup units, not Mesos scalars). Zero means "not set". */
export interface Resources {
  cpuPeriod: number;
  cpuQuota: number;
  cpuShares: number;
  memoryLimitBytes: number;
  memorySwapLimitBytes: number;
  oomScoreAdj: number;
  cpusetCpus: string;
  cpusetMems: string;
  hugepageLimits: Array<{ pageSize: string; limit: number }>;
  /** cgroup v2 key/value settings. */
  unified: Record<string, string>;
}

export type SeccompProfile = { type: 'runtime/default' } | { type: 'unconfined' } | { type: 'localhost'; path: string };

export interface PodSpec {
  /** 64 hex chars, chosen by pkg/cri. */
  id: string;
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
  hostname: string;
  logDirectory: string;
  dns: DnsConfig | undefined;
  portMappings: PortMapping[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** cgroup parent from kubelet (cgroupfs path or systemd slice); empty: under `--cgroups_root`. */
  cgroupParent: string;
  namespaces: { network: 'pod' | 'node'; pid: 'pod' | 'container' | 'node'; ipc: 'pod' | 'node' };
  sysctls: Record<string, string>;
  privileged: boolean;
  seccomp: SeccompProfile;
  runAsUser: number | undefined;
  runAsGroup: number | undefined;
  supplementalGroups: number[];
  readonlyRootfs: boolean;
  /** Pod-level resources (overhead + limits), applied to the pod cgroup when given. */
  resources: Resources | undefined;
  runtimeHandler: string;
}

/** What a containerizer made of a pod. */
export interface PodRuntime {
  /** Path of the pinned network namespace; empty for host network. */
  netnsPath: string;
  /** Pod IPs, primary first (IPv4 and IPv6). */
  ips: string[];
  /** The pod's cgroup (relative path under the hierarchy). */
  cgroup: string;
  /**
   * False once the pod can run no container any more although nobody stopped it (e.g. the process holding
   * its shared pid namespace died) or while it is being stopped; the CRI then reports it NOTREADY.
   * Absent: ready while it exists.
   */
  ready?: boolean;
  /** Free-form runtime details for verbose status (Mesos state, paths). */
  info: Record<string, unknown>;
}

export interface MountSpec {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
  propagation: 'private' | 'rslave' | 'rshared';
  /** Recursive read-only (kernel ≥ 5.12); falls back to an error when unsupported. */
  recursiveReadOnly: boolean;
  /**
   * An image volume (KEP-4639): the root filesystem of this image (resolved id and the reference asked for),
   * mounted read-only; `hostPath` is then empty. The image must be in the store.
   */
  image?: { id: string; ref: string };
  /** With `image`: the sub directory of the image to mount, relative, without "..". Empty: the image root. */
  imageSubPath?: string;
}

export interface DeviceSpec {
  containerPath: string;
  hostPath: string;
  permissions: string;
}

export interface ContainerSpec {
  id: string;
  podId: string;
  name: string;
  attempt: number;
  /** The resolved image: its id (config digest) and the reference the user gave. */
  image: { id: string; ref: string };
  /** CRI `command` (replaces Entrypoint) and `args` (replaces Cmd), kubelet semantics. */
  command: string[];
  args: string[];
  workingDir: string;
  env: Array<{ key: string; value: string }>;
  mounts: MountSpec[];
  /**
   * Restore from a checkpoint archive (CheckpointContainer's output, the CRI image of the request): `image`
   * is then the image the archive recorded, and StartContainer restores the processes instead of starting.
   */
  restore?: { archive: string };
  devices: DeviceSpec[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Absolute path of the CRI log file; empty: no log. */
  logPath: string;
  stdin: boolean;
  stdinOnce: boolean;
  tty: boolean;
  resources: Resources;
  privileged: boolean;
  capabilities: { add: string[]; drop: string[] };
  namespaces: { pid: NamespaceMode; ipc: NamespaceMode; network: NamespaceMode; targetId: string };
  runAsUser: number | undefined;
  runAsGroup: number | undefined;
  runAsUsername: string;
  supplementalGroups: number[];
  readonlyRootfs: boolean;
  noNewPrivs: boolean;
  maskedPaths: string[] | undefined;
  readonlyPaths: string[] | undefined;
  seccomp: SeccompProfile;
  sysctls: Record<string, string>;
}

/** How a container ended. */
export interface Termination {
  exitCode: number;
  /** `Completed` (0), `Error` (non-zero), `OOMKilled`, or `ContainerCannotRun` style reasons. */
  reason: string;
  message: string;
  finishedAt: bigint;
}

/** A container's runtime state as the containerizer knows it. */
export interface ContainerRuntime {
  state: 'created' | 'running' | 'exited' | 'unknown';
  /** Mesos state machine state (PROVISIONING … RUNNING, DESTROYING), shown in verbose status. */
  mesosState: string;
  pid: number;
  startedAt: bigint;
  termination: Termination | undefined;
  /** The container's user after image resolution, for ContainerStatus.user. */
  user: { uid: number; gid: number; supplementalGroups: number[] } | undefined;
  info: Record<string, unknown>;
}

export interface ContainerUsage {
  timestampNs: bigint;
  cpuUsageCoreNs: bigint;
  memoryWorkingSetBytes: number;
  memoryUsageBytes: number;
  memoryRssBytes: number;
  pageFaults: number;
  majorPageFaults: number;
  /** Bytes used by the container's writable layer, and its inode count. */
  writableLayerBytes: number;
  writableLayerInodes: number;
  writableLayerMountpoint: string;
  /** Tasks (threads) in the cgroup. */
  pids: number;
  /** Processes (thread group leaders) in the cgroup, when the containerizer counts them. */
  processes?: number;
  /** Pods only: the counters of the pod's network interfaces (loopback excluded), when it has a process to read them through. */
  network?: InterfaceUsage[];
}

/** Counters of one network interface, as the kernel reports them. */
export interface InterfaceUsage {
  name: string;
  rxBytes: number;
  rxErrors: number;
  txBytes: number;
  txErrors: number;
}

/** cgroup counters as pkg/sys reads them (structurally its CgroupStats); absent means unavailable. */
export interface CgroupCounters {
  cpuUsageNs?: bigint;
  memoryUsageBytes?: number;
  memoryWorkingSetBytes?: number;
  memoryRssBytes?: number;
  pageFaults?: number;
  majorPageFaults?: number;
  pidsCurrent?: number;
}

/** Usage figures from cgroup counters, taken now; missing counters are 0, the writable layer unknown. */
export function usageFromCounters(s: CgroupCounters): ContainerUsage {
  return {
    timestampNs: BigInt(Date.now()) * 1_000_000n,
    cpuUsageCoreNs: s.cpuUsageNs ?? 0n,
    memoryWorkingSetBytes: s.memoryWorkingSetBytes ?? 0,
    memoryUsageBytes: s.memoryUsageBytes ?? 0,
    memoryRssBytes: s.memoryRssBytes ?? 0,
    pageFaults: s.pageFaults ?? 0,
    majorPageFaults: s.majorPageFaults ?? 0,
    writableLayerBytes: 0,
    writableLayerInodes: 0,
    writableLayerMountpoint: '',
    pids: s.pidsCurrent ?? 0,
  };
}

export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** What recovery found for one container id the caller asked about. */
export type RecoveredContainer =
  | { id: string; state: 'created' | 'running'; runtime: ContainerRuntime }
  | { id: string; state: 'exited'; runtime: ContainerRuntime }
  /**
   * Gone without an exit status, or never created. `wasCreated`: the containerizer had the whole container
   * (its create had finished) before it was lost; without it, a create still in progress is rolled back.
   */
  | { id: string; state: 'lost'; wasCreated?: boolean }
  /**
   * The backend does not answer yet (dockerd down at start-up): the containerizer tells the truth later
   * through deferredRecovery(); meanwhile a running container is reported CONTAINER_UNKNOWN.
   */
  | { id: string; state: 'unknown' };
