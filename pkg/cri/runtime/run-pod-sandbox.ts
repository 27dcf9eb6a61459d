import { crashPoint, logger, nowNs } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { RunPodSandboxRequest, RunPodSandboxResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { sandboxName } from '../store/sandbox.js';
import { toPodSpec } from '../translate/pod.js';
import { watchPod } from './lifecycle.js';
import { createOnce, fingerprint } from './support.js';

const log = logger('cri/run-pod-sandbox');

/**
 * RunPodSandbox: validate → translate → reserve the name → record (state `creating`, before any side effect
 * so a crash mid-CNI is recoverable; renamed into place, not fsync'd) → containerizer.runPod → READY (fsync'd).
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

    return createOnce({
      names,
      name,
      fingerprint: fp,
      what: 'pod sandbox',
      signal: ctx.signal,
      existing: (held) => {
        if (deps.sandboxes.get(held)?.status.state !== 'ready') return undefined;
        log.info({ id: held, name }, 'retried RunPodSandbox: returning the existing sandbox');
        return { podSandboxId: held };
      },
      body: async (id, signal, undo) => {
        const spec = toPodSpec(id, config, handler);
        await deps.locks.run(id, async () => {
          // Renamed into place without fsync: a crash of ucri alone finds it (and rolls the create back), and
          // the containerizer's own records are durable before its first side effect, so after a power loss
          // that drops this file its recovery destroys the pod as an orphan (a pod no CRI record names). The
          // `ready` update below is durable and makes the record so (docs/performance.md, "Pod verbs, phase 8").
          await deps.sandboxes.add(
            { id, spec, name, fingerprint: fp, createdAt: nowNs() },
            { state: 'creating', ips: [], netnsPath: '' },
            { durable: false },
          );
          undo.add('remove record', () => deps.sandboxes.remove(id));
          crashPoint('RunPodSandbox', 'record');
          const rt = await containerizer.runPod(spec, signal);
          undo.add('remove pod', async (s) => {
            await containerizer.stopPod(id, s);
            await containerizer.removePod(id, s);
          });
          // The record's first durable write: renamed, then it and its directory fsync'd at once. A power loss
          // during that round loses at most the record, as one before it would have (the `creating` above was
          // not fsync'd), and the pod is then an orphan that the containerizer's recovery destroys; no answer
          // was sent yet. Once the round is done the record is as durable as an atomic write makes it.
          const now = await deps.sandboxes.update(
            id,
            (st) => ({ ...st, state: 'ready', ips: rt.ips, netnsPath: rt.netnsPath }),
            { firstDurable: true },
          );
          watchPod(deps, now);
        });
        log.info({ id, name, handler }, 'pod sandbox ready');
        return { podSandboxId: id };
      },
    });
  };
}
