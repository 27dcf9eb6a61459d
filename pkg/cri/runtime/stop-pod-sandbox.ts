import { crashPoint, logger } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { StopPodSandboxRequest, StopPodSandboxResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { stopContainer } from './lifecycle.js';

const log = logger('cri/stop-pod-sandbox');

/**
 * StopPodSandbox: marks the sandbox NOTREADY (durably, before anything is torn down), kills the pod's running
 * containers at once (kubelet has already given them their grace period) and releases the network (CNI DEL). Idempotent; an unknown id
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
      // The intent comes first: the pod is NOTREADY from now on, and a restart finishes the stop
      // (recoverRuntime stops a `stopped` pod that its containerizer still runs). Renamed into place without
      // fsync: a crash of ucri alone finds it; what only a power loss could drop is undone by the reboot
      // itself (the containers' processes) or stays recorded where it is durable (the CNI attachment's
      // checkpoint, removed only after its DEL; the containerizer's own STOPPING), and a pod that comes back
      // `ready` with its namespaces gone is stopped again by kubelet (docs/performance.md, phase 8).
      await deps.sandboxes.update(id, (s) => (s.state === 'stopped' ? s : { ...s, state: 'stopped' }), {
        durable: false,
      });
      crashPoint('StopPodSandbox', 'marked');
      for (const c of deps.containers.ofPod(id)) await stopContainer(deps, c.meta.id, 0, ctx.signal);
      crashPoint('StopPodSandbox', 'containers-stopped');
      const containerizer = deps.containerizer.select(rec.meta.spec.runtimeHandler);
      await containerizer.stopPod(id, ctx.signal);
      log.info({ id }, 'pod sandbox stopped');
    });
    return {};
  };
}
