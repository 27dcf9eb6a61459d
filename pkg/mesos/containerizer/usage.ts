/** Usage figures (ContainerStats, PodSandboxStats): the isolators' reports, the pod cgroup, the writable layer. */
import { type ContainerUsage, usageFromCounters } from '../../containerizer/index.js';
import { readCgroupStats } from '../../sys/index.js';
import { errorMessage } from '../../util/index.js';
import { type Engine, getContainer, getPod, log } from './engine.js';
import { nowNs } from './records.js';

/** Usage of a container: the isolators' figures merged (partial is fine) and the writable layer. */
export async function usage(e: Engine, id: string): Promise<ContainerUsage> {
  const c = getContainer(e, id);
  const ctx = c.context();
  let out: ContainerUsage = { ...usageFromCounters({}), timestampNs: nowNs() };
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
  return { ...usageFromCounters(await readCgroupStats(pod.rec.state.cgroup).catch(() => ({}))), timestampNs: nowNs() };
}
