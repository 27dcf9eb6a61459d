/**
 * cgroups/pids: a limit on the number of tasks (the daemon's configured default; CRI has no per-container
 * field, so a `pids.max` in the resources' `unified` map, which names the same file under v1 and v2, is
 * the way to change it: UpdatePodSandboxResources uses it for the pod cgroup) and the task count for usage().
 */
import type { ContainerUsage, Resources } from '../../../containerizer/index.js';
import { InvalidArgumentError } from '../../../util/index.js';
import { type CgroupLimits, cgroupFileReader, readCgroupStats } from '../../../sys/index.js';
import type { ContainerContext, LaunchInfo } from '../../isolator.js';
import { CgroupsIsolator, containerCgroup } from './common.js';

/** The unified key that carries a pids limit. */
export const PIDS_MAX = 'pids.max';

export class PidsIsolator extends CgroupsIsolator {
  readonly name = 'cgroups/pids';

  protected limits(res: Resources): CgroupLimits {
    const v = res.unified[PIDS_MAX];
    if (v === undefined) return {};
    if (v === 'max') return { pidsMax: -1 };
    if (!/^\d{1,9}$/.test(v)) throw new InvalidArgumentError(`invalid ${PIDS_MAX} "${v}"`);
    return { pidsMax: Number(v) > 0 ? Number(v) : -1 };
  }

  protected async resources(): Promise<LaunchInfo['resources']> {
    const limit = this.deps.pidsLimit ?? 0;
    return limit > 0 ? { pids: { limit } } : undefined;
  }

  async usage(ctx: ContainerContext): Promise<Partial<ContainerUsage>> {
    const cg = containerCgroup(ctx, this.deps);
    const s = await readCgroupStats(cg);
    const u: Partial<ContainerUsage> = {};
    if (s.pidsCurrent !== undefined) u.pids = s.pidsCurrent;
    // One file of one hierarchy: cgroup.procs lists thread group leaders, i.e. processes.
    const procs = (await cgroupFileReader(cg))('pids', 'cgroup.procs');
    if (procs !== undefined) u.processes = procs.split('\n').filter((l) => l.trim() !== '').length;
    return u;
  }
}
