import type { CriDeps } from '../deps.js';
import type { PodSandboxStatusRequest, PodSandboxStatusResponse } from '../gen/cri/v1/api.js';
import { toContainerStatus, toPodSandboxStatus } from '../translate/status.js';
import { podIps } from './lifecycle.js';
import { nowNs } from '../../util/index.js';

/**
 * PodSandboxStatus: state, creation time, IPs, namespace options, labels, annotations, runtime handler and
 * the statuses of its containers; verbose adds `info` (JSON: the spec given to the containerizer, the
 * record's status and the containerizer's runtime details), as `crictl inspectp` shows it.
 */
export function podSandboxStatus(deps: CriDeps) {
  return async (req: PodSandboxStatusRequest): Promise<PodSandboxStatusResponse> => {
    const rec = deps.sandboxes.mustFind(req.podSandboxId);
    const id = rec.meta.id;
    const info: Record<string, string> = {};
    if (req.verbose) {
      let runtime: unknown;
      try {
        runtime = deps.containerizer.select(rec.meta.spec.runtimeHandler).podRuntime(id);
      } catch {
        runtime = undefined;
      }
      info.info = JSON.stringify({ id, state: rec.status.state, spec: rec.meta.spec, status: rec.status, runtime });
    }
    return {
      status: toPodSandboxStatus(rec, podIps(deps, id)),
      info,
      containersStatuses: deps.containers
        .ofPod(id)
        .filter((c) => c.status.state !== 'creating')
        .map(toContainerStatus),
      timestamp: nowNs(),
    };
  };
}
