/**
 * cgroups/cpu: CPU shares, CFS quota and period, and cpusets from the CRI resources (raw cgroup units, as
 * kubelet computes them). runc applies them when it creates the container's cgroup; update() writes the
 * cgroup files directly; usage() reports CPU time.
 */
import type { ContainerUsage, Resources } from '../../../containerizer/index.js';
import type { LinuxCPU } from '../../../oci/index.js';
import { type CgroupLimits, readCgroupStats } from '../../../sys/index.js';
import type { ContainerContext, LaunchInfo } from '../../isolator.js';
import { CgroupsIsolator, containerCgroup, positive } from './common.js';

/**
 * The CPU part of CRI resources as OCI `linux.resources.cpu`; undefined when nothing is set. The one
 * translation, for create and update alike. Zero is "not set" (kubelet's value for no limit). A negative quota
 * is kubelet's explicit "unlimited" and becomes -1: the kernel's default at create, and what lifts an older
 * quota at update (kubelet sends the full resources on update; pkg/cri has already replaced unset fields by
 * the current values, so an unset quota at update never had one).
 */
export function cpuResources(res: Resources): LinuxCPU | undefined {
  const cpu: LinuxCPU = {};
  const shares = positive(res.cpuShares);
  if (shares !== undefined) cpu.shares = shares;
  const quota = res.cpuQuota < 0 ? -1 : positive(res.cpuQuota);
  if (quota !== undefined) cpu.quota = quota;
  const period = positive(res.cpuPeriod);
  if (period !== undefined) cpu.period = period;
  if (res.cpusetCpus !== '') cpu.cpus = res.cpusetCpus;
  if (res.cpusetMems !== '') cpu.mems = res.cpusetMems;
  return Object.keys(cpu).length > 0 ? cpu : undefined;
}

export class CpuIsolator extends CgroupsIsolator {
  readonly name = 'cgroups/cpu';

  protected limits(res: Resources): CgroupLimits {
    const lim: CgroupLimits = {};
    const cpu = cpuResources(res);
    if (cpu?.shares !== undefined) lim.cpuShares = cpu.shares;
    if (cpu?.period !== undefined) lim.cpuPeriodUs = cpu.period;
    // An update without a quota lifts the old one (kubelet sends the full resources every time).
    lim.cpuQuotaUs = cpu?.quota ?? -1;
    if (cpu?.cpus !== undefined) lim.cpusetCpus = cpu.cpus;
    if (cpu?.mems !== undefined) lim.cpusetMems = cpu.mems;
    return lim;
  }

  protected async resources(ctx: ContainerContext): Promise<LaunchInfo['resources']> {
    const cpu = cpuResources(ctx.spec.resources);
    return cpu ? { cpu } : undefined;
  }

  async usage(ctx: ContainerContext): Promise<Partial<ContainerUsage>> {
    const s = await readCgroupStats(containerCgroup(ctx, this.deps));
    return s.cpuUsageNs !== undefined ? { cpuUsageCoreNs: s.cpuUsageNs } : {};
  }
}
