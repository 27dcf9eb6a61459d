import { FailedPreconditionError, UnimplementedError } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { CheckpointContainerRequest, CheckpointContainerResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { containerizerOf } from './lifecycle.js';

/**
 * CheckpointContainer: validate → container running (else FAILED_PRECONDITION; unknown: NOT_FOUND) →
 * containerizer checkpoint (CRIU) into the archive at `location`; the container keeps running. A host whose
 * kernel CRIU cannot handle answers FAILED_PRECONDITION with what CRIU reported. `timeout` (seconds, 0:
 * the request's deadline only) bounds the checkpoint.
 */
export function checkpointContainer(deps: CriDeps) {
  return async (req: CheckpointContainerRequest, ctx: CallContext): Promise<CheckpointContainerResponse> => {
    const rec = deps.containers.mustFind(req.containerId);
    const id = rec.meta.id;
    if (rec.status.state !== 'running') {
      throw new FailedPreconditionError(`container "${id}" is ${rec.status.state}, not running`);
    }
    const c = containerizerOf(deps, rec);
    if (!c.checkpointContainer) {
      throw new UnimplementedError(`runtime handler "${rec.meta.runtimeHandler}" cannot checkpoint containers`);
    }
    const timeout = Number(req.timeout);
    const signal = timeout > 0 ? AbortSignal.any([ctx.signal, AbortSignal.timeout(timeout * 1000)]) : ctx.signal;
    await deps.locks.run(id, () => c.checkpointContainer!(id, { location: req.location, leaveRunning: true }, signal));
    return {};
  };
}
