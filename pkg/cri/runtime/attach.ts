import { FailedPreconditionError } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { AttachRequest, AttachResponse } from '../gen/cri/v1/api.js';
import { containerizerOf } from './lifecycle.js';
import { streamUrls } from './streaming.js';

/** Attach: checks that the container runs and returns a single-use URL of the streaming server. */
export function attach(deps: CriDeps) {
  return async (req: AttachRequest): Promise<AttachResponse> => {
    const urls = streamUrls(deps);
    const rec = deps.containers.mustFind(req.containerId);
    if (rec.status.state !== 'running') {
      throw new FailedPreconditionError(`container "${rec.meta.id}" is ${rec.status.state}, not running`);
    }
    if (req.stdin && !rec.meta.spec.stdin) {
      throw new FailedPreconditionError(`container "${rec.meta.id}" was not created with stdin`);
    }
    const { tty, stdin, stdout, stderr } = req;
    const url = urls.url({
      kind: 'attach',
      containerizer: containerizerOf(deps, rec),
      containerId: rec.meta.id,
      tty,
      stdin,
      stdout,
      stderr,
    });
    return { url };
  };
}
