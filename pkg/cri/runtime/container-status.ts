import type { CriDeps } from '../deps.js';
import type { ContainerStatusRequest, ContainerStatusResponse } from '../gen/cri/v1/api.js';
import { toContainerStatus } from '../translate/status.js';
import { containerizerOf } from './lifecycle.js';

/**
 * ContainerStatus: state, timestamps, exit code, reason, message, image and image ref, log path, mounts,
 * labels, annotations, resources and user. Verbose adds `info` (JSON, as `crictl inspect` prints it): the
 * pod id, pid, the Mesos state, the runtime handler, the domain spec and the containerizer's details.
 */
export function containerStatus(deps: CriDeps) {
  return async (req: ContainerStatusRequest): Promise<ContainerStatusResponse> => {
    const rec = deps.containers.mustFind(req.containerId);
    const info: Record<string, string> = {};
    if (req.verbose) {
      let runtime: { mesosState: string; pid: number; info: Record<string, unknown> } | undefined;
      let containerizer = '';
      try {
        const c = containerizerOf(deps, rec);
        containerizer = c.handlers[0] ?? '';
        runtime = c.containerRuntime(rec.meta.id);
      } catch {
        runtime = undefined;
      }
      info.info = JSON.stringify({
        sandboxID: rec.meta.podId,
        pid: rec.status.pid,
        state: rec.status.state,
        mesosState: runtime?.mesosState ?? '',
        runtimeHandler: rec.meta.runtimeHandler,
        containerizer,
        image: rec.meta.image,
        spec: rec.meta.spec,
        runtime: runtime?.info ?? {},
      });
    }
    return { status: toContainerStatus(rec), info };
  };
}
