import { FailedPreconditionError } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { PortForwardRequest, PortForwardResponse } from '../gen/cri/v1/api.js';
import { streamUrls } from './streaming.js';

/**
 * PortForward: checks that the pod is ready and returns a single-use URL of the streaming server. The
 * ports listed (if any) are the only ones the session may open.
 */
export function portForward(deps: CriDeps) {
  return async (req: PortForwardRequest): Promise<PortForwardResponse> => {
    const urls = streamUrls(deps);
    const rec = deps.sandboxes.mustFind(req.podSandboxId);
    if (rec.status.state !== 'ready') {
      throw new FailedPreconditionError(`pod sandbox "${rec.meta.id}" is ${rec.status.state}, not ready`);
    }
    const url = urls.url({
      kind: 'portforward',
      containerizer: deps.containerizer.select(rec.meta.spec.runtimeHandler),
      podId: rec.meta.id,
      ports: [...req.port],
    });
    return { url };
  };
}
