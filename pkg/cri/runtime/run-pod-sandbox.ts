import { AlreadyExistsError, logger } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { RunPodSandboxRequest, RunPodSandboxResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { sandboxName } from '../store/sandbox.js';
import { toPodSpec } from '../translate/pod.js';
import { nowNs } from '../translate/status.js';
import { CREATE_MS, fingerprint, newId, Undo, untilAborted } from './support.js';

const log = logger('cri/run-pod-sandbox');

/**
 * RunPodSandbox: validate → translate → reserve the name → record (state `creating`, before any side effect
 * so a crash mid-CNI is recoverable) → containerizer.runPod → READY.
 *
 * Idempotent per request: a retry of the same request (same name and attempt, same config) while the first
 * is in flight waits for it and returns the same id; after it succeeded it returns that id at once. Another
 * request reusing the name gets ALREADY_EXISTS naming the holder. The work is not tied to the request's
 * deadline (only the answer is), so a kubelet retry after a client timeout finds it done.
 */
export function runPodSandbox(deps: CriDeps) {
  return async (req: RunPodSandboxRequest, ctx: CallContext): Promise<RunPodSandboxResponse> => {
    const config = req.config!;
    const containerizer = deps.containerizer.select(req.runtimeHandler);
    const handler = req.runtimeHandler || containerizer.handlers[0]!;
    const name = sandboxName(config.metadata!);
    const fp = fingerprint(req);
    const names = deps.sandboxes.names;

    for (;;) {
      const held = names.get(name);
      if (held?.pending) {
        await untilAborted(held.pending, ctx.signal);
        continue;
      }
      if (held) {
        if (held.fingerprint === fp && deps.sandboxes.get(held.id)?.status.state === 'ready') {
          log.info({ id: held.id, name }, 'retried RunPodSandbox: returning the existing sandbox');
          return { podSandboxId: held.id };
        }
        throw new AlreadyExistsError(`pod sandbox name "${name}" is reserved for "${held.id}"`);
      }
      break;
    }

    const id = newId();
    const spec = toPodSpec(id, config, handler);
    const finish = names.claim(name, id, fp);

    const work = (async (): Promise<RunPodSandboxResponse> => {
      const signal = AbortSignal.timeout(CREATE_MS);
      const undo = new Undo();
      undo.push('release name', () => names.release(name, id));
      try {
        await deps.locks.run(id, async () => {
          await deps.sandboxes.add(
            { id, spec, name, fingerprint: fp, createdAt: nowNs() },
            { state: 'creating', ips: [], netnsPath: '' },
          );
          undo.push('remove record', () => deps.sandboxes.remove(id));
          const rt = await containerizer.runPod(spec, signal);
          undo.push('remove pod', async (s) => {
            await containerizer.stopPod(id, s);
            await containerizer.removePod(id, s);
          });
          await deps.sandboxes.update(id, (st) => ({ ...st, state: 'ready', ips: rt.ips, netnsPath: rt.netnsPath }));
        });
        undo.commit();
        names.settle(name, id);
        log.info({ id, name, handler }, 'pod sandbox ready');
        return { podSandboxId: id };
      } catch (err) {
        await undo.rollback();
        throw err;
      } finally {
        finish();
      }
    })();
    // The answer follows the client's deadline; the work goes on for a retry to find.
    work.catch(() => undefined);
    return untilAborted(work, ctx.signal);
  };
}
