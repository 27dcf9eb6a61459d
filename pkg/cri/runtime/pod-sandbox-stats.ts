import { NotFoundError } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { PodSandboxStatsRequest, PodSandboxStatsResponse } from '../gen/cri/v1/api.js';
import { statsOfPod } from './stats.js';

/** PodSandboxStats: the pod cgroup's usage and its containers' stats. */
export function podSandboxStats(deps: CriDeps) {
  return async (req: PodSandboxStatsRequest): Promise<PodSandboxStatsResponse> => {
    const rec = deps.sandboxes.find(req.podSandboxId);
    if (!rec || rec.status.state === 'creating') {
      throw new NotFoundError(`pod sandbox "${req.podSandboxId}" not found`);
    }
    return { stats: await statsOfPod(deps, rec) };
  };
}
