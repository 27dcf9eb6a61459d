import type { CriDeps } from '../deps.js';
import type { RemoveContainerRequest, RemoveContainerResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { removeContainer as remove } from './lifecycle.js';

/** RemoveContainer: kills the container if it runs, removes it and its record. Idempotent: unknown ids succeed. */
export function removeContainer(deps: CriDeps) {
  return async (req: RemoveContainerRequest, ctx: CallContext): Promise<RemoveContainerResponse> => {
    const rec = deps.containers.find(req.containerId);
    if (rec) await remove(deps, rec.meta.id, ctx.signal);
    return {};
  };
}
