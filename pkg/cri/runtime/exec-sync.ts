import { FailedPreconditionError } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { ExecSyncRequest, ExecSyncResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { containerizerOf } from './lifecycle.js';

/**
 * The longest timeout passed on, in seconds: what a millisecond timer (2^31 - 1 ms, Node's and most of the
 * stack's limit) still holds, about 24.8 days. Larger values (up to int64) mean "practically never" and are
 * clamped here rather than overflowing in conmon (an INTERNAL failure) or firing at once in a timer.
 */
export const MAX_EXEC_TIMEOUT_S = Math.floor((2 ** 31 - 1) / 1000);

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
    const timeout = req.timeout > BigInt(MAX_EXEC_TIMEOUT_S) ? MAX_EXEC_TIMEOUT_S : Number(req.timeout);
    const r = await containerizerOf(deps, rec).execSync(rec.meta.id, req.cmd, timeout, ctx.signal);
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
  };
}
