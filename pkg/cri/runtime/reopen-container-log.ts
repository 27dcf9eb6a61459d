import { FailedPreconditionError } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { ReopenContainerLogRequest, ReopenContainerLogResponse } from '../gen/cri/v1/api.js';
import { containerizerOf } from './lifecycle.js';

/** ReopenContainerLog: the log writer reopens the file kubelet has just rotated; the container must run. */
export function reopenContainerLog(deps: CriDeps) {
  return async (req: ReopenContainerLogRequest): Promise<ReopenContainerLogResponse> => {
    const rec = deps.containers.mustFind(req.containerId);
    if (rec.status.state !== 'running') {
      throw new FailedPreconditionError(`container "${rec.meta.id}" is ${rec.status.state}, not running`);
    }
    await containerizerOf(deps, rec).reopenLog(rec.meta.id);
    return {};
  };
}
