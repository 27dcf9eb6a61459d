/**
 * CRI → Engine API translation: the pod's infra container and its app containers as `POST
 * /containers/create` bodies, resources as `POST /containers/{id}/update` bodies, and dockerd's state back
 * into the containerizer's terms. Labels mark every container ucri makes, so recovery finds them by label
 * (never by a name prefix, which would claim other programs' containers).
 */
import { promises as fs } from 'node:fs';
import type { ContainerSpec, PodSpec, Resources, Termination } from '../containerizer/index.js';
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
      Privileged: spec.privileged,
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

/** Docker wants capability names with or without `CAP_`; ucri passes them as CRI gave them, upper-cased. */
function caps(list: string[]): string[] | undefined {
  return list.length > 0 ? list.map((c) => c.toUpperCase()) : undefined;
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
      Devices: spec.devices.map((d) => ({
        PathOnHost: d.hostPath,
        PathInContainer: d.containerPath,
        CgroupPermissions: d.permissions || 'rwm',
      })),
      GroupAdd: spec.supplementalGroups.length > 0 ? spec.supplementalGroups.map(String) : undefined,
      CapAdd: caps(spec.capabilities.add),
      CapDrop: caps(spec.capabilities.drop),
      Privileged: spec.privileged,
      SecurityOpt: await seccompOpt(spec),
      ReadonlyRootfs: spec.readonlyRootfs,
      MaskedPaths: spec.privileged ? undefined : spec.maskedPaths,
      ReadonlyPaths: spec.privileged ? undefined : spec.readonlyPaths,
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
