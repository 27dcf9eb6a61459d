import type { CriDeps } from '../deps.js';
import type { ListPodSandboxStatsRequest, ListPodSandboxStatsResponse } from '../gen/cri/v1/api.js';
import { matchId, matchLabels } from './filters.js';
import { statsOfPod } from './stats.js';

/** ListPodSandboxStats: stats of the ready sandboxes matching id prefix and labels. */
export function listPodSandboxStats(deps: CriDeps) {
  return async (req: ListPodSandboxStatsRequest): Promise<ListPodSandboxStatsResponse> => {
    const f = req.filter;
    const recs = deps.sandboxes
      .list()
      .filter((r) => r.status.state === 'ready')
      .filter((r) => matchId(r.meta.id, f?.id))
      .filter((r) => matchLabels(r.meta.spec.labels, f?.labelSelector));
    return { stats: await Promise.all(recs.map((r) => statsOfPod(deps, r))) };
  };
}
