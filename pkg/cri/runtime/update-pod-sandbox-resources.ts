import { FailedPreconditionError, NotFoundError, UnimplementedError } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { UpdatePodSandboxResourcesRequest, UpdatePodSandboxResourcesResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { podResources } from '../translate/pod.js';

/**
 * UpdatePodSandboxResources: the pod cgroup's limits become the overhead plus the containers' sum, in
 * place; the containers keep running. The containerizer records the new limits (the CRI record keeps the
 * ones the pod was created with: it is the immutable request).
 */
export function updatePodSandboxResources(deps: CriDeps) {
  return async (
    req: UpdatePodSandboxResourcesRequest,
    ctx: CallContext,
  ): Promise<UpdatePodSandboxResourcesResponse> => {
    const id = deps.sandboxes.mustFind(req.podSandboxId).meta.id;
    const resources = podResources(req.overhead, req.resources);
    if (!resources) return {};
    await deps.locks.run(id, async () => {
      const rec = deps.sandboxes.get(id);
      if (!rec) throw new NotFoundError(`pod sandbox "${id}" not found`);
      if (rec.status.state !== 'ready') {
        throw new FailedPreconditionError(`pod sandbox "${id}" is ${rec.status.state}: its resources cannot change`);
      }
      const handler = rec.meta.spec.runtimeHandler;
      const c = deps.containerizer.select(handler);
      if (!c.updatePod) {
        throw new UnimplementedError(`runtime handler "${handler}" cannot change pod resources in place`);
      }
      await c.updatePod(id, resources, ctx.signal);
    });
    return {};
  };
}
