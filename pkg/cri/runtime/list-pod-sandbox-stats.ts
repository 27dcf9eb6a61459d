import type { CriDeps } from '../deps.js';
import type {
  ListPodSandboxStatsRequest,
  ListPodSandboxStatsResponse,
  PodSandboxStatsFilter,
} from '../gen/cri/v1/api.js';
import type { SandboxRecord } from '../store/sandbox.js';
import { matchId, matchLabels } from './filters.js';
import { statsOfPod } from './stats.js';

/** The sandboxes whose stats ListPodSandboxStats and StreamPodSandboxStats report: the ready ones. */
export function selectStatsPods(deps: CriDeps, f: PodSandboxStatsFilter | undefined): SandboxRecord[] {
  return deps.sandboxes
    .list()
    .filter((r) => r.status.state === 'ready')
    .filter((r) => matchId(r.meta.id, f?.id))
    .filter((r) => matchLabels(r.meta.spec.labels, f?.labelSelector));
}

/** ListPodSandboxStats: stats of the ready sandboxes matching id prefix and labels. */
export function listPodSandboxStats(deps: CriDeps) {
  return async (req: ListPodSandboxStatsRequest): Promise<ListPodSandboxStatsResponse> => ({
    stats: await Promise.all(selectStatsPods(deps, req.filter).map((r) => statsOfPod(deps, r))),
  });
}
