import { crashPoint, logger } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { RemovePodSandboxRequest, RemovePodSandboxResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { removeContainer } from './lifecycle.js';

const log = logger('cri/remove-pod-sandbox');

/**
 * RemovePodSandbox: removes the pod's containers (killing any that still run), then the pod itself
 * (network released if Stop was skipped, namespace pins, cgroup) and its record. Idempotent: an unknown id
 * succeeds.
 */
export function removePodSandbox(deps: CriDeps) {
  return async (req: RemovePodSandboxRequest, ctx: CallContext): Promise<RemovePodSandboxResponse> => {
    const found = deps.sandboxes.find(req.podSandboxId);
    if (!found) return {};
    const id = found.meta.id;
    await deps.locks.run(id, async () => {
      const rec = deps.sandboxes.get(id);
      if (!rec) return;
      // Mark it stopped first: under this lock no CreateContainer can add a container to it any more.
      await deps.sandboxes.update(id, (s) => (s.state === 'stopped' ? s : { ...s, state: 'stopped' }));
      crashPoint('RemovePodSandbox', 'marked');
      for (const c of deps.containers.ofPod(id)) await removeContainer(deps, c.meta.id, ctx.signal);
      crashPoint('RemovePodSandbox', 'containers-removed');
      const containerizer = deps.containerizer.select(rec.meta.spec.runtimeHandler);
      await containerizer.stopPod(id, ctx.signal);
      crashPoint('RemovePodSandbox', 'pod-stopped');
      // The containerizer may release the stopped pod's pins, cgroup and dirs in the background: a crash before
      // that is done leaves a pod this record no longer names, which its recovery destroys as an orphan.
      await containerizer.removePod(id, ctx.signal, { later: true });
      crashPoint('RemovePodSandbox', 'handed-off');
      await deps.sandboxes.remove(id);
      log.info({ id }, 'pod sandbox removed');
    });
    return {};
  };
}
