import type { Resources } from '../../containerizer/index.js';
import { FailedPreconditionError, NotFoundError } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { UpdateContainerResourcesRequest, UpdateContainerResourcesResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { toResources } from '../translate/container.js';
import { containerizerOf } from './lifecycle.js';

/**
 * The new limits: every field the request sets (non-zero, non-empty) replaces the current value, the rest
 * stay, so `crictl update --memory` changes only the memory limit.
 */
export function mergeResources(cur: Resources, next: Resources): Resources {
  return {
    cpuPeriod: next.cpuPeriod || cur.cpuPeriod,
    cpuQuota: next.cpuQuota || cur.cpuQuota,
    cpuShares: next.cpuShares || cur.cpuShares,
    memoryLimitBytes: next.memoryLimitBytes || cur.memoryLimitBytes,
    memorySwapLimitBytes: next.memorySwapLimitBytes || cur.memorySwapLimitBytes,
    oomScoreAdj: next.oomScoreAdj || cur.oomScoreAdj,
    cpusetCpus: next.cpusetCpus || cur.cpusetCpus,
    cpusetMems: next.cpusetMems || cur.cpusetMems,
    hugepageLimits: next.hugepageLimits.length > 0 ? next.hugepageLimits : cur.hugepageLimits,
    unified: { ...cur.unified, ...next.unified },
  };
}

/** UpdateContainerResources: new cgroup limits for a created or running container, then recorded. */
export function updateContainerResources(deps: CriDeps) {
  return async (req: UpdateContainerResourcesRequest, ctx: CallContext): Promise<UpdateContainerResourcesResponse> => {
    const id = deps.containers.mustFind(req.containerId).meta.id;
    await deps.locks.run(id, async () => {
      const rec = deps.containers.get(id);
      if (!rec) throw new NotFoundError(`container "${id}" not found`);
      if (rec.status.state !== 'created' && rec.status.state !== 'running') {
        throw new FailedPreconditionError(`container "${id}" is ${rec.status.state}: its resources cannot change`);
      }
      const resources = mergeResources(rec.status.resources, toResources(req.linux));
      await containerizerOf(deps, rec).update(id, resources, ctx.signal);
      await deps.containers.update(id, (s) => ({ ...s, resources }));
    });
    return {};
  };
}
