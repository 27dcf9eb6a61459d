import { crashPoint, logger } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { StopPodSandboxRequest, StopPodSandboxResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { stopContainer } from './lifecycle.js';

const log = logger('cri/stop-pod-sandbox');

/**
 * StopPodSandbox: kills the pod's running containers at once (kubelet has already given them their grace
 * period), releases the network (CNI DEL) and marks the sandbox NOTREADY. Idempotent; an unknown id
 * succeeds, as the CRI contract asks ("must not return an error if all relevant resources have already
 * been reclaimed"), since a sandbox we have no record of has nothing left to reclaim.
 */
export function stopPodSandbox(deps: CriDeps) {
  return async (req: StopPodSandboxRequest, ctx: CallContext): Promise<StopPodSandboxResponse> => {
    const found = deps.sandboxes.find(req.podSandboxId);
    if (!found) {
      log.debug({ id: req.podSandboxId }, 'stop of an unknown pod sandbox: nothing to do');
      return {};
    }
    const id = found.meta.id;
    await deps.locks.run(id, async () => {
      const rec = deps.sandboxes.get(id);
      if (!rec) return;
      for (const c of deps.containers.ofPod(id)) await stopContainer(deps, c.meta.id, 0, ctx.signal);
      crashPoint('StopPodSandbox', 'containers-stopped');
      const containerizer = deps.containerizer.select(rec.meta.spec.runtimeHandler);
      await containerizer.stopPod(id, ctx.signal);
      await deps.sandboxes.update(id, (s) => (s.state === 'stopped' ? s : { ...s, state: 'stopped' }));
      log.info({ id }, 'pod sandbox stopped');
    });
    return {};
  };
}
