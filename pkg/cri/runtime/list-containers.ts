import type { CriDeps } from '../deps.js';
import { CONTAINER_ITEMS } from '../list-items.js';
import type { Container, ContainerFilter, ListContainersRequest, ListContainersResponse } from '../gen/cri/v1/api.js';
import { criContainerState, toContainer } from '../translate/status.js';
import { matchId, matchLabels } from './filters.js';

/** The containers ListContainers and StreamContainers answer with, oldest first. */
export function selectContainers(deps: CriDeps, f: ContainerFilter | undefined): Container[] {
  return deps.containers
    .list()
    .filter((r) => r.status.state !== 'creating')
    .filter((r) => matchId(r.meta.id, f?.id))
    .filter((r) => matchId(r.meta.podId, f?.podSandboxId))
    .filter((r) => !f?.state || criContainerState(r.status.state) === f.state.state)
    .filter((r) => matchLabels(r.meta.spec.labels, f?.labelSelector))
    .sort((a, b) => (a.meta.createdAt < b.meta.createdAt ? -1 : a.meta.createdAt > b.meta.createdAt ? 1 : 0))
    .map((r) => CONTAINER_ITEMS.item(r, toContainer));
}

/** ListContainers: every container not still being created, filtered by id prefix, state, pod and labels. */
export function listContainers(deps: CriDeps) {
  return async (req: ListContainersRequest): Promise<ListContainersResponse> => ({
    containers: selectContainers(deps, req.filter),
  });
}
