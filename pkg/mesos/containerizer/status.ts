/**
 * Read-mostly container operations: status, usage, exec, log reopen and resource updates.
 *
 * Resource updates take one path: the isolators' update() hooks (the cgroups/* isolators write the cgroup
 * files through pkg/sys, which speaks v1 and v2). `runc update` is used only when no configured isolator
 * implements update, so that a containerizer without cgroups isolators can still change limits. A created
 * container has no cgroup yet: its new resources are kept and applied right after isolation at start.
 */
import type { ContainerRuntime, ContainerUsage, ExecResult, Resources } from '../../containerizer/index.js';
import type { LinuxResources, Process } from '../../oci/index.js';
import { type CgroupStats, readCgroupStats, readNetDev } from '../../sys/index.js';
import { errorMessage, FailedPreconditionError } from '../../util/index.js';
import { updateThroughIsolators } from './containers.js';
import { type Engine, getContainer, getPod, log } from './engine.js';
import { type Container, type MesosState, nowNs, saveContainer } from './records.js';

const CRI_STATE: Record<MesosState, ContainerRuntime['state']> = {
  PROVISIONING: 'created',
  PREPARING: 'created',
  ISOLATING: 'created',
  FETCHING: 'created',
  RUNNING: 'running',
  TERMINATED: 'exited',
  DESTROYING: 'unknown',
};

/** The container's runtime facts; `info` carries the Mesos state and paths for verbose status. */
export function containerRuntimeOf(e: Engine, c: Container): ContainerRuntime {
  const r = c.rec;
  const running = r.state === 'RUNNING' && !r.termination;
  const user = r.oci.process?.user;
  return {
    state: r.termination ? 'exited' : CRI_STATE[r.state],
    mesosState: r.state,
    pid: running ? (r.launched?.pid ?? 0) : 0,
    startedAt: r.startedAt,
    termination: r.termination,
    user: user ? { uid: user.uid, gid: user.gid, supplementalGroups: [...(user.additionalGids ?? [])] } : undefined,
    info: {
      mesosState: r.state,
      podId: c.pod.id,
      launcher: e.launcher.name,
      runtime: e.launcher.runtime.kind,
      bundle: c.bundle,
      rootfs: r.provisioned.rootfs,
      backend: r.provisioned.backend,
      cgroup: r.cgroup,
      imageKind: r.image.kind,
      stopSignal: r.stopSignal || 'SIGTERM',
      pid: r.launched?.pid ?? 0,
      conmonPid: r.launched?.monitorPid ?? 0,
    },
  };
}

function requireRunning(c: Container): void {
  if (c.rec.state !== 'RUNNING' || c.rec.termination) {
    throw new FailedPreconditionError(`container "${c.id}" is not running`);
  }
}

/** Runs `cmd` as the container's own process runs (user, env, cwd, capabilities), args replaced. */
export async function execSync(
  e: Engine,
  id: string,
  cmd: string[],
  timeoutSeconds: number,
  signal: AbortSignal,
): Promise<ExecResult> {
  const c = getContainer(e, id);
  requireRunning(c);
  const base = c.rec.oci.process;
  if (!base) throw new FailedPreconditionError(`container "${id}" has no process spec`);
  const proc: Process = { ...base, args: [...cmd], terminal: false };
  delete proc.consoleSize;
  return e.launcher.exec(id, proc, Math.max(0, timeoutSeconds) * 1000, signal);
}

/** Asks conmon to reopen the CRI log file. */
export async function reopenLog(e: Engine, id: string): Promise<void> {
  const c = getContainer(e, id);
  requireRunning(c);
  if (c.rec.spec.logPath === '') return;
  await e.launcher.reopenLog(id, c.bundle, c.rec.spec.logPath);
}

/** Changes the limits of a created or running container (see the header for the path taken). */
export async function update(e: Engine, id: string, resources: Resources, signal: AbortSignal): Promise<void> {
  await e.lock.run(id, async () => {
    const c = getContainer(e, id);
    if (c.rec.termination || c.rec.state === 'DESTROYING') {
      throw new FailedPreconditionError(`container "${id}" is not running`);
    }
    const before = c.rec.spec;
    c.rec.spec = { ...before, resources };
    try {
      if (c.rec.state === 'RUNNING') {
        if (!(await updateThroughIsolators(e, c, signal))) await e.launcher.update(id, toOciResources(resources));
      } else {
        c.rec.pendingResources = true;
      }
      await saveContainer(e.paths, c.rec);
    } catch (err) {
      c.rec.spec = before;
      throw err;
    }
  });
}

/** The CRI resources in OCI form (zero: not set), for `runc update`. */
export function toOciResources(r: Resources): LinuxResources {
  const out: LinuxResources = {};
  const cpu: NonNullable<LinuxResources['cpu']> = {};
  if (r.cpuShares > 0) cpu.shares = r.cpuShares;
  if (r.cpuQuota !== 0) cpu.quota = r.cpuQuota;
  if (r.cpuPeriod > 0) cpu.period = r.cpuPeriod;
  if (r.cpusetCpus !== '') cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems !== '') cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  if (r.memoryLimitBytes > 0) {
    out.memory = { limit: r.memoryLimitBytes };
    if (r.memorySwapLimitBytes > 0) out.memory.swap = r.memorySwapLimitBytes;
  }
  if (Object.keys(r.unified).length > 0) out.unified = { ...r.unified };
  return out;
}

/** Usage of a container: the isolators' figures merged (partial is fine) and the writable layer. */
export async function usage(e: Engine, id: string): Promise<ContainerUsage> {
  const c = getContainer(e, id);
  const ctx = c.context();
  let out: ContainerUsage = { ...fromStats({}), timestampNs: nowNs() };
  let reported = false;
  for (const iso of e.isolators) {
    if (!iso.usage) continue;
    try {
      const part = await iso.usage(ctx);
      if (Object.keys(part).length > 0) reported = true;
      out = { ...out, ...part };
    } catch (err) {
      log.debug({ id, isolator: iso.name, err: errorMessage(err) }, 'usage failed');
    }
  }
  // No cgroups isolator configured: the runtime still made the container's cgroup.
  if (!reported) out = { ...out, ...fromStats(await readCgroupStats(c.rec.cgroup).catch(() => ({}))) };
  try {
    const w = await e.provisioner.usage(id);
    out.writableLayerBytes = w.bytes;
    out.writableLayerInodes = w.inodes;
    out.writableLayerMountpoint = w.mountpoint;
  } catch (err) {
    log.debug({ id, err: errorMessage(err) }, 'writable layer usage failed');
  }
  return out;
}

/**
 * Usage of a pod: its cgroup, which holds every container of the pod, and its network counters read
 * through a process in its network namespace (the infra process, else a running container's init). A pod
 * without any process has no network figures.
 */
export async function podUsage(e: Engine, podId: string): Promise<ContainerUsage> {
  const pod = getPod(e, podId);
  const out = { ...fromStats(await readCgroupStats(pod.rec.state.cgroup).catch(() => ({}))), timestampNs: nowNs() };
  // A host-network pod's interfaces are the host's: not the pod's to report.
  if (pod.rec.spec.namespaces.network === 'node') return out;
  const pids = [pod.rec.state.infraPid];
  for (const id of pod.containers) {
    const c = e.containers.get(id);
    if (c?.rec.state === 'RUNNING' && !c.rec.termination && c.rec.launched) pids.push(c.rec.launched.pid);
  }
  for (const pid of pids) {
    const counters = pid > 0 ? await readNetDev(pid) : undefined;
    if (!counters) continue;
    out.network = counters
      .filter((i) => i.name !== 'lo')
      .map((i) => ({
        name: i.name,
        rxBytes: i.rxBytes,
        rxErrors: i.rxErrors,
        txBytes: i.txBytes,
        txErrors: i.txErrors,
      }));
    break;
  }
  return out;
}

function fromStats(s: CgroupStats): ContainerUsage {
  return {
    timestampNs: nowNs(),
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
