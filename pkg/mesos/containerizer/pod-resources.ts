/**
 * Pod-level resources changed in place (CRI UpdatePodSandboxResources): the pod cgroup's CPU, memory and
 * pids limits are rewritten by the isolators' updatePod hooks; the containers' own cgroups below it, and
 * their processes, are untouched.
 *
 *   record (spec.resources = new) ─► updatePod in table order ─► done
 *                                    └─ failure: record restored, old limits re-applied (own deadline)
 *
 * The record is written first, so it is the intent: a crash between the two leaves a record whose limits
 * recovery re-applies (the cgroups isolators' recover hook), never limits that no record knows of.
 */
import type { Resources } from '../../containerizer/index.js';
import { errorMessage, FailedPreconditionError } from '../../util/index.js';
import { type Engine, getPod, log } from './engine.js';
import { savePod } from './records.js';

/** Applies `resources` to a ready pod's cgroup and records them (see the header). */
export async function updatePodResources(
  e: Engine,
  podId: string,
  resources: Resources,
  signal: AbortSignal,
): Promise<void> {
  await e.lock.run(podId, async () => {
    const pod = getPod(e, podId);
    if (pod.rec.phase !== 'READY') {
      throw new FailedPreconditionError(`pod sandbox "${podId}" is not ready: its resources cannot change`);
    }
    const before = pod.rec.spec;
    pod.rec.spec = { ...before, resources };
    await savePod(e.paths, pod.rec);
    try {
      for (const iso of e.isolators) await iso.updatePod?.(pod.context(), resources, signal);
    } catch (err) {
      pod.rec.spec = before;
      await savePod(e.paths, pod.rec);
      // Put back what was written before the failure; a resource left unset before stays as it is now.
      const undo = AbortSignal.timeout(30_000);
      if (before.resources) {
        for (const iso of e.isolators) {
          await iso.updatePod?.(pod.context(), before.resources, undo).catch((undoErr: unknown) => {
            log.warn({ podId, isolator: iso.name, err: errorMessage(undoErr) }, 'pod limits not restored');
          });
        }
      }
      throw err;
    }
  });
}
