import type { CriDeps } from '../deps.js';
import type { ContainerStatsFilter, ListContainerStatsRequest, ListContainerStatsResponse } from '../gen/cri/v1/api.js';
import type { ContainerRecord } from '../store/container.js';
import { matchId, matchLabels } from './filters.js';
import { statsOfContainer } from './stats.js';

/** The records whose stats ListContainerStats and StreamContainerStats report: created and running ones. */
export function selectStatsContainers(deps: CriDeps, f: ContainerStatsFilter | undefined): ContainerRecord[] {
  return deps.containers
    .list()
    .filter((r) => r.status.state === 'running' || r.status.state === 'created')
    .filter((r) => matchId(r.meta.id, f?.id))
    .filter((r) => matchId(r.meta.podId, f?.podSandboxId))
    .filter((r) => matchLabels(r.meta.spec.labels, f?.labelSelector));
}

/** ListContainerStats: stats of the created and running containers matching id prefix, pod and labels. */
export function listContainerStats(deps: CriDeps) {
  return async (req: ListContainerStatsRequest): Promise<ListContainerStatsResponse> => ({
    stats: await Promise.all(selectStatsContainers(deps, req.filter).map((r) => statsOfContainer(deps, r))),
  });
}
