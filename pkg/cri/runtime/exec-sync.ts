import { FailedPreconditionError } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { ExecSyncRequest, ExecSyncResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { containerizerOf } from './lifecycle.js';

/**
 * ExecSync: runs a command in a running container and returns its output and exit code. A command still
 * running after `timeout` seconds (0: no limit but the call's deadline) is killed and the call fails with
 * DEADLINE_EXCEEDED, which is what kubelet's exec probes and critest expect.
 */
export function execSync(deps: CriDeps) {
  return async (req: ExecSyncRequest, ctx: CallContext): Promise<ExecSyncResponse> => {
    const rec = deps.containers.mustFind(req.containerId);
    if (rec.status.state !== 'running') {
      throw new FailedPreconditionError(`container "${rec.meta.id}" is ${rec.status.state}, not running`);
    }
    const r = await containerizerOf(deps, rec).execSync(rec.meta.id, req.cmd, Number(req.timeout), ctx.signal);
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
  };
}
