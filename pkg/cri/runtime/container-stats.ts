import { NotFoundError } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { ContainerStatsRequest, ContainerStatsResponse } from '../gen/cri/v1/api.js';
import { statsOfContainer } from './stats.js';

/** ContainerStats: cpu, memory and writable-layer usage of one container (from its cgroup). */
export function containerStats(deps: CriDeps) {
  return async (req: ContainerStatsRequest): Promise<ContainerStatsResponse> => {
    const rec = deps.containers.find(req.containerId);
    if (!rec || rec.status.state === 'creating') throw new NotFoundError(`container "${req.containerId}" not found`);
    return { stats: await statsOfContainer(deps, rec) };
  };
}
