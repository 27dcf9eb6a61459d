import { FailedPreconditionError } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { ExecRequest, ExecResponse } from '../gen/cri/v1/api.js';
import { containerizerOf } from './lifecycle.js';
import { streamUrls } from './streaming.js';

/**
 * Exec: checks that the container runs and returns a single-use URL of the streaming server, where the
 * client's SPDY or WebSocket session starts the command (pkg/cri/streaming).
 */
export function exec(deps: CriDeps) {
  return async (req: ExecRequest): Promise<ExecResponse> => {
    const urls = streamUrls(deps);
    const rec = deps.containers.mustFind(req.containerId);
    if (rec.status.state !== 'running') {
      throw new FailedPreconditionError(`container "${rec.meta.id}" is ${rec.status.state}, not running`);
    }
    const { tty, stdin, stdout, stderr } = req;
    const url = urls.url({
      kind: 'exec',
      containerizer: containerizerOf(deps, rec),
      containerId: rec.meta.id,
      cmd: [...req.cmd],
      tty,
      stdin,
      stdout,
      stderr,
    });
    return { url };
  };
}
