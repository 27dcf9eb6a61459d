/**
 * cgroups/pids: a limit on the number of tasks (the daemon's configured default; CRI has no per-container
 * field) and the task count for usage().
 */
import type { ContainerUsage } from '../../../containerizer/index.js';
import { type CgroupLimits, readCgroupStats } from '../../../sys/index.js';
import type { ContainerContext, LaunchInfo } from '../../isolator.js';
import { CgroupsIsolator, containerCgroup } from './common.js';

export class PidsIsolator extends CgroupsIsolator {
  readonly name = 'cgroups/pids';

  protected limits(): CgroupLimits {
    return {};
  }

  protected async resources(): Promise<LaunchInfo['resources']> {
    const limit = this.deps.pidsLimit ?? 0;
    return limit > 0 ? { pids: { limit } } : undefined;
  }

  async usage(ctx: ContainerContext): Promise<Partial<ContainerUsage>> {
    const s = await readCgroupStats(containerCgroup(ctx, this.deps));
    return s.pidsCurrent !== undefined ? { pids: s.pidsCurrent } : {};
  }
}
