/**
 * The one ordered table of isolators (Mesos `mesos/containerizer.cpp`): `--isolation` name → factory. The
 * table order is the `prepare` order (and the reverse of `cleanup`) whatever the order of the flag, the same
 * fixed order Mesos uses: filesystem → runtime → cgroups → namespaces → linux → volume → network.
 * Each isolator may also report a readiness `condition()`, which the containerizer's CRI conditions include.
 *
 * Only the containerizer folder imports this module. It also exports the cgroup path rules, so that the
 * containerizer fills `PodState.cgroup` and `ContainerContext.cgroup` the way the cgroups isolators expect.
 */
import type { CgroupDriver } from '../../sys/index.js';
import { InvalidArgumentError } from '../../util/index.js';
import type { Isolator } from '../isolator.js';
import { AppcRuntimeIsolator } from './appc/runtime.js';
import { CpuIsolator } from './cgroups/cpu.js';
import { MemIsolator } from './cgroups/mem.js';
import { PidsIsolator } from './cgroups/pids.js';
import { DockerRuntimeIsolator } from './docker/runtime.js';
import { LinuxFilesystemIsolator } from './filesystem/linux.js';
import { SecurityIsolator } from './linux/security.js';
import { IpcNamespaceIsolator } from './namespaces/ipc.js';
import { PidNamespaceIsolator } from './namespaces/pid.js';
import type { CniIsolatorOptions } from './network/cni.js';
import { ReportingCniIsolator } from './network/ready.js';
import { HostPathIsolator } from './volume/host-path.js';
import { type ImageLeases, ImageVolumeIsolator } from './volume/image.js';

export { containerCgroupPath, podCgroupPath } from './cgroups/common.js';

/** What isolators need from the daemon's configuration and host probes. */
export interface IsolatorDeps {
  /** How cgroups are named for the OCI runtime (`cgroupfs` paths or systemd `slice:prefix:name`). */
  cgroupDriver: CgroupDriver;
  /** Parent of pod cgroups when kubelet gives no cgroup parent (`--cgroups_root`, e.g. `ucri`). */
  cgroupsRoot: string;
  /**
   * The OCI runtime understands the `rro` mount option (from `runc features`) and the kernel has mount_setattr.
   * Read when a container is prepared, not when the isolator is built (the containerizer learns it later).
   */
  recursiveReadOnlyMounts: boolean;
  /** Default pids limit for containers; 0 or absent: none. */
  pidsLimit?: number;
  /** Host files used for host-network pods and as the resolv.conf fallback (default /etc/hosts, /etc/resolv.conf). */
  hostHostsFile?: string;
  hostResolvConf?: string;
  /**
   * network/cni: the CNI config dir (`--network_cni_config_dir`), plugin dirs, where attachments are
   * checkpointed, and the node's pod CIDR getter. Needed only when network/cni is asked for.
   */
  cni?: Pick<CniIsolatorOptions, 'configDir' | 'pluginDirs' | 'stateDir' | 'podCidr'>;
  /** volume/image: the image store (layers and leases) and where image volumes are recorded and mounted. */
  imageVolumes?: { images?: ImageLeases; stateDir?: string };
}

/** Builds one isolator. */
export type IsolatorFactory = (deps: IsolatorDeps) => Isolator;

/** The table, in its fixed order. */
const TABLE: ReadonlyArray<readonly [string, IsolatorFactory]> = [
  ['filesystem/linux', (d) => new LinuxFilesystemIsolator(d)],
  ['docker/runtime', () => new DockerRuntimeIsolator()],
  ['appc/runtime', () => new AppcRuntimeIsolator()],
  ['cgroups/cpu', (d) => new CpuIsolator(d)],
  ['cgroups/mem', (d) => new MemIsolator(d)],
  ['cgroups/pids', (d) => new PidsIsolator(d)],
  ['namespaces/pid', () => new PidNamespaceIsolator()],
  ['namespaces/ipc', () => new IpcNamespaceIsolator()],
  ['linux/security', () => new SecurityIsolator()],
  ['volume/host_path', (d) => new HostPathIsolator(d)],
  ['volume/image', (d) => new ImageVolumeIsolator(d.imageVolumes ?? {})],
  // Last, as in Mesos (its teardown first). Its setupPod runs at the same time as the others' (pod.ts):
  // the pod's files and cgroup need nothing from the network, and it needs nothing from them.
  ['network/cni', (d) => new ReportingCniIsolator(required(d.cni, 'network/cni needs its CNI configuration'))],
];

function required<T>(v: T | undefined, message: string): T {
  if (v === undefined) throw new InvalidArgumentError(message);
  return v;
}

/** Every `--isolation` name ucri knows, in table order. */
export const ISOLATOR_NAMES: readonly string[] = TABLE.map(([n]) => n);

/**
 * The isolators named in `names` (order and duplicates in `names` do not matter), in table order.
 * InvalidArgumentError naming the first unknown name.
 */
export function createIsolators(names: readonly string[], deps: IsolatorDeps): Isolator[] {
  const wanted = new Set<string>();
  for (const raw of names) {
    const n = raw.trim();
    if (n === '') continue;
    if (!TABLE.some(([t]) => t === n)) {
      throw new InvalidArgumentError(`unknown isolator "${n}" (known: ${ISOLATOR_NAMES.join(', ')})`);
    }
    wanted.add(n);
  }
  return TABLE.filter(([n]) => wanted.has(n)).map(([, make]) => make(deps));
}
