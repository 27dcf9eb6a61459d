import type { CriDeps } from '../deps.js';
import type { StopContainerRequest, StopContainerResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { stopContainer as stop } from './lifecycle.js';

/**
 * StopContainer: the stop signal, then SIGKILL after `timeout` seconds; returns once the exit is recorded.
 * Idempotent for known containers (created or exited ones are left as they are). An unknown id is NOT_FOUND,
 * as containerd and CRI-O answer; kubelet treats that as already stopped.
 */
export function stopContainer(deps: CriDeps) {
  return async (req: StopContainerRequest, ctx: CallContext): Promise<StopContainerResponse> => {
    const rec = deps.containers.mustFind(req.containerId);
    await stop(deps, rec.meta.id, Number(req.timeout), ctx.signal);
    return {};
  };
}
