/** Usage figures (ContainerStats, PodSandboxStats): the isolators' reports, the pod cgroup, the writable layer. */
import { type ContainerUsage, usageFromCounters } from '../../containerizer/index.js';
import { readCgroupStats, readNetDev } from '../../sys/index.js';
import { errorMessage, nowNs } from '../../util/index.js';
import { type Engine, getContainer, getPod, log } from './engine.js';

/** Usage of a container: the isolators' figures merged (partial is fine) and the writable layer. */
export async function usage(e: Engine, id: string): Promise<ContainerUsage> {
  const c = getContainer(e, id);
  const ctx = c.context();
  let out: ContainerUsage = { ...usageFromCounters({}), timestampNs: nowNs() };
  let reported = false;
  // Side by side (the cgroups isolators then share one read of the cgroup), merged in table order.
  const parts = await Promise.all(
    e.isolators.map(async (iso) => {
      try {
        return await iso.usage?.(ctx);
      } catch (err) {
        log.debug({ id, isolator: iso.name, err: errorMessage(err) }, 'usage failed');
        return undefined;
      }
    }),
  );
  for (const part of parts) {
    if (!part) continue;
    if (Object.keys(part).length > 0) reported = true;
    out = { ...out, ...part };
  }
  // No cgroups isolator configured: the runtime still made the container's cgroup.
  if (!reported) out = { ...out, ...usageFromCounters(await readCgroupStats(c.rec.cgroup).catch(() => ({}))) };
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

/** Usage of a pod: its cgroup, which holds every container of the pod. */
export async function podUsage(e: Engine, podId: string): Promise<ContainerUsage> {
  const pod = getPod(e, podId);
  const out = {
    ...usageFromCounters(await readCgroupStats(pod.rec.state.cgroup).catch(() => ({}))),
    timestampNs: nowNs(),
  };
  // A host-network pod's interfaces are the host's: not the pod's to report.
  if (pod.rec.spec.namespaces.network === 'node') return out;
  // The pod's network counters, read through a process in its netns: the infra process, else a running
  // container's init. A pod without any process has no network figures.
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
