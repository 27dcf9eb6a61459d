import type { CriDeps } from '../deps.js';
import { SANDBOX_ITEMS } from '../list-items.js';
import type { ListPodSandboxRequest, ListPodSandboxResponse, PodSandbox, PodSandboxFilter } from '../gen/cri/v1/api.js';
import { criSandboxState, toPodSandbox } from '../translate/status.js';
import { matchId, matchLabels } from './filters.js';

/** The sandboxes ListPodSandbox and StreamPodSandboxes answer with, oldest first. */
export function selectPodSandboxes(deps: CriDeps, f: PodSandboxFilter | undefined): PodSandbox[] {
  return deps.sandboxes
    .list()
    .filter((r) => r.status.state !== 'creating')
    .filter((r) => matchId(r.meta.id, f?.id))
    .filter((r) => !f?.state || criSandboxState(r.status.state) === f.state.state)
    .filter((r) => matchLabels(r.meta.spec.labels, f?.labelSelector))
    .sort((a, b) => (a.meta.createdAt < b.meta.createdAt ? -1 : a.meta.createdAt > b.meta.createdAt ? 1 : 0))
    .map((r) => SANDBOX_ITEMS.item(r, toPodSandbox));
}

/** ListPodSandbox: every sandbox that is not still being created, filtered by id prefix, state and labels. */
export function listPodSandbox(deps: CriDeps) {
  return async (req: ListPodSandboxRequest): Promise<ListPodSandboxResponse> => ({
    items: selectPodSandboxes(deps, req.filter),
  });
}
