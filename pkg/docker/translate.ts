/**
 * CRI → Engine API translation: the pod's infra container and its app containers as `POST
 * /containers/create` bodies, resources as `POST /containers/{id}/update` bodies, and dockerd's state back
 * into the containerizer's terms. Labels mark every container ucri makes, so recovery finds them by label
 * (never by a name prefix, which would claim other programs' containers).
 */
import { promises as fs } from 'node:fs';
import type { ContainerSpec, PodSpec, Resources, Termination } from '../containerizer/index.js';
import { ALL_CAPABILITIES, hostCapabilities, withheldCapabilities } from '../sys/index.js';
import { FailedPreconditionError, InvalidArgumentError } from '../util/index.js';
import type { ContainerInspect } from './api.js';

/** Label keys ucri puts on every container it makes in dockerd. */
export const LABELS = {
  /** The ucri instance (a hash of its work dir): two ucri daemons sharing one dockerd never mix. */
  instance: 'io.ucri.instance',
  pod: 'io.ucri.pod-id',
  /** The CRI container id; absent on the infra container. */
  container: 'io.ucri.container-id',
  kind: 'io.ucri.kind',
} as const;

/** Docker names are deterministic, so a create interrupted by a crash is found and undone by name. */
export function infraName(podId: string): string {
  return `ucri-infra-${podId}`;
}
export function containerNameOf(id: string): string {
  return `ucri-${id}`;
}

/** The infra container of a pod: the pause image, network `none` (CNI attaches its namespace), shareable IPC. */
export function infraBody(spec: PodSpec, image: string, instance: string): Record<string, unknown> {
  const hostNet = spec.namespaces.network === 'node';
  const dns = spec.dns;
  return {
    Image: image,
    Hostname: hostNet ? undefined : spec.hostname || undefined,
    Labels: { [LABELS.instance]: instance, [LABELS.pod]: spec.id, [LABELS.kind]: 'infra' },
    HostConfig: {
      NetworkMode: hostNet ? 'host' : 'none',
      IpcMode: spec.namespaces.ipc === 'node' ? 'host' : 'shareable',
      PidMode: spec.namespaces.pid === 'node' ? 'host' : '',
      CgroupParent: spec.cgroupParent || undefined,
      Dns: dns?.servers.length ? dns.servers : undefined,
      DnsSearch: dns?.searches.length ? dns.searches : undefined,
      DnsOptions: dns?.options.length ? dns.options : undefined,
      Sysctls: Object.keys(spec.sysctls).length > 0 ? spec.sysctls : undefined,
      // Never privileged: the infra only holds namespaces, and a privileged pod's app containers get their
      // privileges themselves (containerd's sandbox is not privileged either).
      Privileged: false,
      SecurityOpt: spec.seccomp.type === 'unconfined' ? ['seccomp=unconfined'] : undefined,
      ReadonlyRootfs: spec.readonlyRootfs,
      RestartPolicy: { Name: 'no' },
    },
  };
}

/** The Engine API resource fields of CRI resources (zero means "leave unset"). */
export function resourcesBody(r: Resources): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (r.cpuShares > 0) out.CpuShares = r.cpuShares;
  if (r.cpuPeriod > 0) out.CpuPeriod = r.cpuPeriod;
  if (r.cpuQuota > 0) out.CpuQuota = r.cpuQuota;
  if (r.cpusetCpus) out.CpusetCpus = r.cpusetCpus;
  if (r.cpusetMems) out.CpusetMems = r.cpusetMems;
  if (r.memoryLimitBytes > 0) {
    out.Memory = r.memoryLimitBytes;
    // kubelet gives no swap unless it says so: swap limit = memory limit.
    out.MemorySwap = r.memorySwapLimitBytes > 0 ? r.memorySwapLimitBytes : r.memoryLimitBytes;
  }
  return out;
}

/** `net_admin`, `NET_ADMIN` and `CAP_NET_ADMIN` all name CAP_NET_ADMIN; `ALL` stays `ALL`. */
function capName(name: string): string {
  const up = name.trim().toUpperCase();
  if (up === 'ALL') return up;
  const cap = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!ALL_CAPABILITIES.includes(cap)) throw new InvalidArgumentError(`unknown capability "${name}"`);
  return cap;
}

/**
 * Capabilities and privileged mode for dockerd, bounded by what this host grants ucri (its CapBnd): dockerd
 * 20.10 hands out every capability the kernel knows for `ALL` and for privileged containers, and runc then
 * fails with EPERM where the host withholds one from root (e.g. CAP_SYS_RESOURCE). So `ALL` becomes the
 * host's own list, a capability asked for by name that the host lacks is a clear refusal (as for Mesos
 * pods), and where the host withholds any, a privileged container is what dockerd's privileged mode gives
 * minus those: every capability the host has, no seccomp, no masked or read-only paths, every host device.
 * Capabilities that dockerd does not know (learnt from its refusals, see unknownCapability) are left out of
 * these expansions; asked for by name, dockerd's refusal stands.
 */
async function privileges(
  spec: ContainerSpec,
  unknownToDockerd: ReadonlySet<string>,
): Promise<Record<string, unknown>> {
  // What `ALL` and privileged expand to: the host's capabilities that this dockerd also knows (dockerd 20.10
  // refuses CAP_PERFMON, CAP_BPF and CAP_CHECKPOINT_RESTORE by name, though newer kernels have them).
  const granted = (await hostCapabilities()).filter((c) => !unknownToDockerd.has(c));
  if (spec.privileged) {
    if ((await withheldCapabilities()).length === 0) return { Privileged: true };
    return {
      Privileged: false,
      CapAdd: [...granted],
      CapDrop: undefined,
      SecurityOpt: ['seccomp=unconfined'],
      MaskedPaths: [],
      ReadonlyPaths: [],
      Devices: await hostDeviceMappings(),
    };
  }
  const adds = spec.capabilities.add.map(capName);
  const drops = spec.capabilities.drop.map(capName);
  const capAdd: string[] = [];
  for (const c of adds) {
    if (c === 'ALL') capAdd.push(...granted);
    else if (granted.includes(c)) capAdd.push(c);
    else throw new FailedPreconditionError(`capability "${c}" is not available to ucri on this host`);
  }
  return {
    Privileged: false,
    CapAdd: capAdd.length > 0 ? [...new Set(capAdd)] : undefined,
    CapDrop: drops.length > 0 ? drops : undefined,
    SecurityOpt: await seccompOpt(spec),
    MaskedPaths: spec.maskedPaths,
    ReadonlyPaths: spec.readonlyPaths,
    Devices: undefined,
  };
}

/** Every character and block device under /dev, for a privileged container that dockerd cannot make one. */
async function hostDeviceMappings(): Promise<Array<Record<string, string>>> {
  const out: Array<Record<string, string>> = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = `${dir}/${e.name}`;
      // /dev/pts and /dev/shm are the container's own; /dev/console and the tty it gets are set up by runc.
      if (e.isDirectory() && !['pts', 'shm', 'mqueue'].includes(e.name)) await walk(p);
      else if ((e.isCharacterDevice() || e.isBlockDevice()) && p !== '/dev/console') {
        out.push({ PathOnHost: p, PathInContainer: p, CgroupPermissions: 'rwm' });
      }
    }
  };
  await walk('/dev');
  return out;
}

/** The user field: a name, `uid`, or `uid:gid`. */
function user(spec: ContainerSpec): string | undefined {
  if (spec.runAsUsername) return spec.runAsUsername;
  if (spec.runAsUser === undefined) return undefined;
  return spec.runAsGroup === undefined ? String(spec.runAsUser) : `${spec.runAsUser}:${spec.runAsGroup}`;
}

async function seccompOpt(spec: ContainerSpec): Promise<string[]> {
  const out: string[] = [];
  if (spec.seccomp.type === 'unconfined') out.push('seccomp=unconfined');
  if (spec.seccomp.type === 'localhost') {
    // The Engine API takes the profile's JSON itself (the docker CLI reads the file the same way).
    let text: string;
    try {
      text = await fs.readFile(spec.seccomp.path, 'utf8');
    } catch (err) {
      throw new InvalidArgumentError(`cannot read seccomp profile "${spec.seccomp.path}"`, { cause: err });
    }
    out.push(`seccomp=${text}`);
  }
  if (spec.noNewPrivs) out.push('no-new-privileges');
  return out;
}

function pidMode(spec: ContainerSpec, infraId: string): string {
  switch (spec.namespaces.pid) {
    case 'pod':
      return `container:${infraId}`;
    case 'node':
      return 'host';
    case 'target':
      return `container:${containerNameOf(spec.namespaces.targetId)}`;
    default:
      return '';
  }
}

/** An app container: joins the infra's network and IPC (and PID per NamespaceMode). */
export async function containerBody(
  spec: ContainerSpec,
  pod: PodSpec,
  infraId: string,
  instance: string,
  unknownToDockerd: ReadonlySet<string> = new Set(),
): Promise<Record<string, unknown>> {
  const propagation = { private: 'rprivate', rslave: 'rslave', rshared: 'rshared' } as const;
  const imageVolume = spec.mounts.find((m) => m.image !== undefined);
  if (imageVolume) {
    // The Engine API has image mounts only from API 1.48 (Docker 28); ucri does not drive them yet.
    throw new FailedPreconditionError(
      `image volume "${imageVolume.containerPath}" is not supported by the docker runtime handler`,
    );
  }
  const entry = spec.command.length > 0;
  const priv = await privileges(spec, unknownToDockerd);
  return {
    Image: spec.image.id,
    Entrypoint: entry ? spec.command : undefined,
    Cmd: spec.args.length > 0 ? spec.args : entry ? [] : undefined,
    Env: spec.env.map((e) => `${e.key}=${e.value}`),
    WorkingDir: spec.workingDir || undefined,
    User: user(spec),
    Tty: spec.tty,
    OpenStdin: spec.stdin,
    StdinOnce: spec.stdinOnce,
    AttachStdin: spec.stdin,
    Labels: { [LABELS.instance]: instance, [LABELS.pod]: pod.id, [LABELS.container]: spec.id, [LABELS.kind]: 'app' },
    HostConfig: {
      NetworkMode: `container:${infraId}`,
      IpcMode: `container:${infraId}`,
      PidMode: pidMode(spec, infraId),
      CgroupParent: pod.cgroupParent || undefined,
      Binds: spec.mounts.map(
        (m) => `${m.hostPath}:${m.containerPath}:${m.readonly ? 'ro' : 'rw'},${propagation[m.propagation]}`,
      ),
      GroupAdd: spec.supplementalGroups.length > 0 ? spec.supplementalGroups.map(String) : undefined,
      ReadonlyRootfs: spec.readonlyRootfs,
      ...priv,
      Devices: [
        ...((priv.Devices as Array<Record<string, string>> | undefined) ?? []),
        ...spec.devices.map((d) => ({
          PathOnHost: d.hostPath,
          PathInContainer: d.containerPath,
          CgroupPermissions: d.permissions || 'rwm',
        })),
      ],
      OomScoreAdj: spec.resources.oomScoreAdj > 0 ? spec.resources.oomScoreAdj : undefined,
      RestartPolicy: { Name: 'no' },
      ...resourcesBody(spec.resources),
    },
  };
}

/** RFC 3339 with up to nanoseconds → ns since the epoch; 0 for dockerd's zero time. */
export function parseTimeNs(s: string | undefined): bigint {
  if (!s || s.startsWith('0001-')) return 0n;
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(s);
  if (!m) return 0n;
  const secs = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(secs)) return 0n;
  const frac = (m[2] ?? '').padEnd(9, '0').slice(0, 9);
  return BigInt(secs) * 1_000_000n + BigInt(frac || '0');
}

/** How a container that is no longer running ended, in CRI terms. */
export function terminationOf(c: ContainerInspect): Termination {
  const code = c.State.ExitCode;
  let reason = code === 0 ? 'Completed' : 'Error';
  if (c.State.OOMKilled) reason = 'OOMKilled';
  else if (c.State.Error) reason = 'ContainerCannotRun';
  return { exitCode: code, reason, message: c.State.Error ?? '', finishedAt: parseTimeNs(c.State.FinishedAt) };
}

/**
 * The capability a dockerd refusal names as unknown (`invalid CapAdd: unknown capability: "CAP_PERFMON"`),
 * when that is what it says.
 */
export function unknownCapability(message: string): string | undefined {
  return /unknown capability: "?(CAP_[A-Z_]+)"?/.exec(message)?.[1];
}
