/**
 * cgroups/mem: the memory limit (and swap where asked and the kernel accounts it), hugepage limits and the
 * cgroup v2 `unified` settings of the CRI resources. update() writes the limit directly; usage() reports
 * the kubelet's memory figures; limitation() reports an OOM kill (the kernel's counter in the container's
 * memory cgroup, read before `runc delete` removes it) as reason `OOMKilled`.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { type ContainerUsage, type Resources, unifiedSettingProblem } from '../../../containerizer/index.js';
import type { LinuxResources } from '../../../oci/index.js';
import { type CgroupLimits, controllerDir, detectCgroups, oomKilled, readCgroupStats } from '../../../sys/index.js';
import { InvalidArgumentError, logger } from '../../../util/index.js';
import type { ContainerContext, LaunchInfo, Limitation } from '../../isolator.js';
import { CgroupsIsolator, containerCgroup, podCgroup, positive } from './common.js';

const log = logger('mesos/isolators/cgroups/mem');
const PAGE_SIZE_RE = /^\d+(KB|MB|GB|TB|PB)$/;

/** Unified settings apply on a cgroup v2 host only, and each names a file of the container's own cgroup. */
async function checkUnified(unified: Record<string, string>): Promise<void> {
  if ((await detectCgroups()).mode !== 'v2') {
    throw new InvalidArgumentError('unified cgroup settings need a cgroup v2 host');
  }
  for (const [k, v] of Object.entries(unified)) {
    const problem = unifiedSettingProblem(k, v);
    if (problem !== undefined) throw new InvalidArgumentError(`invalid unified cgroup setting: ${problem}`);
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

export class MemIsolator extends CgroupsIsolator {
  readonly name = 'cgroups/mem';

  protected limits(res: Resources): CgroupLimits {
    // An update without a limit lifts the old one (kubelet sends the full resources every time).
    return { memoryLimitBytes: positive(res.memoryLimitBytes) ?? -1 };
  }

  protected async resources(ctx: ContainerContext): Promise<LaunchInfo['resources']> {
    const res = ctx.spec.resources;
    const out: LinuxResources = {};
    const limit = positive(res.memoryLimitBytes);
    const swap = positive(res.memorySwapLimitBytes);
    if (limit !== undefined) {
      out.memory = { limit };
      if (swap !== undefined) {
        if (swap < limit) {
          throw new InvalidArgumentError(`memory+swap limit ${swap} is below the memory limit ${limit}`);
        }
        if (await this.swapAccounted(ctx)) out.memory.swap = swap;
        else log.warn({ id: ctx.spec.id }, 'swap limit ignored: the kernel does not account swap');
      }
    }
    if (res.hugepageLimits.length > 0) {
      const layout = await detectCgroups();
      if (layout.mode !== 'v2' && !layout.v1.has('hugetlb')) {
        log.warn({ id: ctx.spec.id }, 'hugepage limits ignored: no hugetlb cgroup controller');
      } else {
        out.hugepageLimits = res.hugepageLimits.map((h) => {
          if (!PAGE_SIZE_RE.test(h.pageSize) || !Number.isSafeInteger(h.limit) || h.limit < 0) {
            throw new InvalidArgumentError(`invalid hugepage limit "${h.pageSize}" ${h.limit}`);
          }
          return { pageSize: h.pageSize, limit: h.limit };
        });
      }
    }
    if (Object.keys(res.unified).length > 0) {
      await checkUnified(res.unified);
      out.unified = { ...res.unified };
    }
    return out;
  }

  /**
   * Also writes the `unified` settings (refused on a cgroup v1 host, as at creation), so an update never
   * reports settings it did not apply.
   */
  override async update(ctx: ContainerContext, resources: Resources): Promise<void> {
    const unified = Object.entries(resources.unified);
    if (unified.length > 0) await checkUnified(resources.unified);
    await super.update(ctx, resources);
    if (unified.length === 0) return;
    const dir = await controllerDir(containerCgroup(ctx, this.deps), 'memory');
    if (!dir) throw new InvalidArgumentError('unified cgroup settings need a cgroup v2 host');
    for (const [k, v] of unified) await fs.writeFile(path.join(dir, k), v);
  }

  /** v1 accounts swap only with swapaccount=1 (memsw files present); v2 always has memory.swap.max. */
  private async swapAccounted(ctx: ContainerContext): Promise<boolean> {
    const layout = await detectCgroups();
    const dir = await controllerDir(podCgroup(ctx.pod, this.deps), 'memory');
    if (!dir) return false;
    const probe = layout.mode === 'v2' ? 'memory.swap.max' : 'memory.memsw.limit_in_bytes';
    // The pod cgroup may not exist (systemd driver): the hierarchy root has the same files.
    return (await exists(path.join(dir, probe))) || (await exists(path.join(path.dirname(dir), probe)));
  }

  async usage(ctx: ContainerContext): Promise<Partial<ContainerUsage>> {
    const s = await readCgroupStats(containerCgroup(ctx, this.deps));
    const u: Partial<ContainerUsage> = {};
    if (s.memoryWorkingSetBytes !== undefined) u.memoryWorkingSetBytes = s.memoryWorkingSetBytes;
    if (s.memoryUsageBytes !== undefined) u.memoryUsageBytes = s.memoryUsageBytes;
    if (s.memoryRssBytes !== undefined) u.memoryRssBytes = s.memoryRssBytes;
    if (s.pageFaults !== undefined) u.pageFaults = s.pageFaults;
    if (s.majorPageFaults !== undefined) u.majorPageFaults = s.majorPageFaults;
    return u;
  }

  async limitation(ctx: ContainerContext): Promise<Limitation | undefined> {
    if (!(await oomKilled(containerCgroup(ctx, this.deps)))) return undefined;
    return { reason: 'OOMKilled', message: 'the kernel OOM killer killed a process of the container' };
  }
}
