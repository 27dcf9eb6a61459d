import type { CriDeps } from '../deps.js';
import type { ListContainerStatsRequest, ListContainerStatsResponse } from '../gen/cri/v1/api.js';
import { matchId, matchLabels } from './filters.js';
import { statsOfContainer } from './stats.js';

/** ListContainerStats: stats of the created and running containers matching id prefix, pod and labels. */
export function listContainerStats(deps: CriDeps) {
  return async (req: ListContainerStatsRequest): Promise<ListContainerStatsResponse> => {
    const f = req.filter;
    const recs = deps.containers
      .list()
      .filter((r) => r.status.state === 'running' || r.status.state === 'created')
      .filter((r) => matchId(r.meta.id, f?.id))
      .filter((r) => matchId(r.meta.podId, f?.podSandboxId))
      .filter((r) => matchLabels(r.meta.spec.labels, f?.labelSelector));
    return { stats: await Promise.all(recs.map((r) => statsOfContainer(deps, r))) };
  };
}
