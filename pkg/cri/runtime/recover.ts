/**
 * Start-up recovery, run by `ucri serve` before the CRI server answers anything but Version/Status:
 *
 * 1. Load the sandbox and container records (checkpoints under `<work_dir>/cri`).
 * 2. Roll back pod creates that a crash interrupted (records still `creating`): the client never got their
 *    id, so they are undone exactly as a failed create would be.
 * 3. Hand every other record's spec to its containerizer's recover(): it reattaches to live containers,
 *    collects exits that happened while ucri was down and destroys orphans it has no record of.
 * 4. Container creates a crash interrupted (records still `creating`): a container the containerizer
 *    recovered was whole (its create had made this record durable with its own, CreateContainerOptions) and
 *    is adopted as created; any other is rolled back. The client may retry and gets the adopted id.
 * 5. Reconcile: running stay RUNNING (same pid) with their exit watchers re-armed; those that ended get
 *    their exit code; those the containerizer lost become EXITED with code 255, reason `Unknown` (what
 *    containerd reports for a task that vanished), so kubelet restarts them; pods it lost become NOTREADY.
 */
import type { ContainerSpec, Containerizer, PodSpec, RecoveredContainer } from '../../containerizer/index.js';
import { errorMessage, logger, nowNs } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { ContainerStatus } from '../store/container.js';
import { exitedStatus, watchExit, watchPod } from './lifecycle.js';
import { ROLLBACK_MS } from './support.js';

const log = logger('cri/recover');

/** Exit code reported for a container whose process ucri can no longer account for. */
export const LOST_EXIT_CODE = 255;

/** Loads the stores and reconciles them with the containerizers. Throws only when a store cannot be read. */
export async function recoverRuntime(deps: CriDeps): Promise<void> {
  await deps.sandboxes.load();
  await deps.containers.load();
  const signal = AbortSignal.timeout(ROLLBACK_MS);

  for (const p of deps.sandboxes.list().filter((r) => r.status.state === 'creating')) {
    log.warn({ id: p.meta.id }, 'rolling back a pod sandbox create interrupted by a restart');
    await safely(`remove pod ${p.meta.id}`, async () => {
      const c = deps.containerizer.select(p.meta.spec.runtimeHandler);
      for (const ct of deps.containers.ofPod(p.meta.id)) {
        await c.removeContainer(ct.meta.id, signal);
        await deps.containers.remove(ct.meta.id);
      }
      await c.stopPod(p.meta.id, signal);
      await c.removePod(p.meta.id, signal);
      await deps.sandboxes.remove(p.meta.id);
    });
  }

  // Group the specs by containerizer: each recovers what it runs.
  const groups = new Map<Containerizer, { pods: PodSpec[]; containers: ContainerSpec[] }>();
  const groupOf = (handler: string) => {
    const c = deps.containerizer.select(handler);
    let g = groups.get(c);
    if (!g) {
      g = { pods: [], containers: [] };
      groups.set(c, g);
    }
    return g;
  };
  for (const { containerizer } of deps.containerizer.handlers()) groupOf(containerizer.handlers[0]!);
  for (const p of deps.sandboxes.list()) groupOf(p.meta.spec.runtimeHandler).pods.push(p.meta.spec);
  for (const ct of deps.containers.list()) groupOf(ct.meta.runtimeHandler).containers.push(ct.meta.spec);

  const found = new Map<string, RecoveredContainer>();
  for (const [c, known] of groups) {
    for (const r of await c.recover(known)) found.set(r.id, r);
  }

  for (const ct of deps.containers.list().filter((r) => r.status.state === 'creating')) {
    const id = ct.meta.id;
    const r = found.get(id);
    if (r && r.state !== 'unknown' && (r.state !== 'lost' || r.wasCreated === true)) {
      log.warn({ id }, 'adopting a container whose create was complete when a restart interrupted it');
      const user = r.state === 'lost' ? undefined : r.runtime.user;
      await deps.containers.update(id, (s) => ({ ...s, state: 'created', user: user ?? s.user }));
      continue;
    }
    log.warn({ id }, 'rolling back a container create interrupted by a restart');
    await safely(`remove container ${id}`, async () => {
      await deps.containerizer.select(ct.meta.runtimeHandler).removeContainer(id, signal);
      await deps.containers.remove(id);
    });
  }

  for (const p of deps.sandboxes.list()) {
    const containerizer = deps.containerizer.select(p.meta.spec.runtimeHandler);
    const rt = containerizer.podRuntime(p.meta.id);
    if (p.status.state === 'stopped' && rt?.ready === true) {
      // A StopPodSandbox that a crash cut short (its intent was recorded first): finish it.
      log.warn({ id: p.meta.id }, 'finishing a pod sandbox stop interrupted by a restart');
      await safely(`stop pod ${p.meta.id}`, async () => {
        for (const ct of deps.containers.ofPod(p.meta.id)) {
          if (ct.status.state === 'running') await containerizer.stopContainer(ct.meta.id, 0, signal);
        }
        await containerizer.stopPod(p.meta.id, signal);
      });
      continue;
    }
    if (p.status.state !== 'ready') continue;
    if (!rt || rt.ready === false) {
      // Lost, its infra died, or a stop the crash interrupted was finished by the containerizer's recovery.
      log.warn({ id: p.meta.id }, 'pod sandbox not ready after the restart: now NOTREADY');
      await deps.sandboxes.update(p.meta.id, (s) => ({ ...s, state: 'stopped', ips: rt?.ips ?? [] }));
    } else {
      const now = await deps.sandboxes.update(p.meta.id, (s) => ({ ...s, ips: rt.ips, netnsPath: rt.netnsPath }));
      watchPod(deps, now);
    }
  }

  for (const ct of deps.containers.list()) {
    const id = ct.meta.id;
    const r = found.get(id);
    const next = reconcile(ct.status, r);
    const rec = next === ct.status ? ct : await deps.containers.update(id, () => next);
    if (rec.status.state === 'running') watchExit(deps, rec);
  }
  for (const [c, known] of groups) {
    const waiting = known.containers
      .filter((s) => found.get(s.id)?.state === 'unknown' && deps.containers.get(s.id)?.status.state !== 'creating')
      .map((s) => s.id);
    if (waiting.length > 0 && c.deferredRecovery) finishDeferred(deps, c, c.deferredRecovery(), waiting);
  }
  log.info({ sandboxes: deps.sandboxes.list().length, containers: deps.containers.list().length }, 'recovered');
}

/**
 * Completes the recovery of containers a containerizer could not tell about at start-up (dockerd down), in
 * the background: once it has looked, their records are reconciled like any other, and the running ones
 * watched; pods it found lost become NOTREADY.
 */
function finishDeferred(deps: CriDeps, c: Containerizer, later: Promise<RecoveredContainer[]>, ids: string[]): void {
  const run = async (): Promise<void> => {
    const found = new Map((await later).map((r) => [r.id, r]));
    log.info({ handler: c.handlers[0], containers: ids.length }, 'completing a deferred recovery');
    for (const id of ids) {
      await deps.locks.run(id, async () => {
        const ct = deps.containers.get(id);
        if (!ct || ct.status.state === 'exited') return;
        const next = reconcile(ct.status, found.get(id) ?? { id, state: 'lost' });
        const rec = next === ct.status ? ct : await deps.containers.update(id, () => next);
        if (rec.status.state === 'running') watchExit(deps, rec);
      });
    }
    for (const p of deps.sandboxes.list()) {
      if (p.status.state !== 'ready' || deps.containerizer.select(p.meta.spec.runtimeHandler) !== c) continue;
      if (c.podRuntime(p.meta.id)?.ready === false) {
        log.warn({ id: p.meta.id }, 'pod sandbox not ready once its runtime answered: now NOTREADY');
        await deps.sandboxes.update(p.meta.id, (s) => (s.state === 'ready' ? { ...s, state: 'stopped' } : s));
      }
    }
  };
  run().catch((err: unknown) => log.error({ err: errorMessage(err) }, 'deferred recovery failed'));
}

/** The status a container record should have given what the containerizer found. */
export function reconcile(s: Readonly<ContainerStatus>, r: RecoveredContainer | undefined): Readonly<ContainerStatus> {
  if (s.state === 'exited') return s;
  if (r?.state === 'unknown') return s.state === 'running' ? { ...s, state: 'unknown' } : s;
  if (!r || r.state === 'lost') {
    if (s.state === 'created' && !r) return s;
    return {
      ...exitedStatus(s, { exitCode: LOST_EXIT_CODE, reason: 'Unknown', message: '', finishedAt: nowNs() }),
      message: 'the container was lost while ucri was not running',
    };
  }
  if (r.state === 'exited') {
    const term = r.runtime.termination ?? { exitCode: LOST_EXIT_CODE, reason: 'Unknown', message: '', finishedAt: 0n };
    return exitedStatus({ ...s, startedAt: s.startedAt || r.runtime.startedAt }, term);
  }
  if (r.state === 'running') {
    return { ...s, state: 'running', pid: r.runtime.pid, startedAt: s.startedAt || r.runtime.startedAt };
  }
  return s.state === 'created' ? s : { ...s, state: 'created' };
}

async function safely(what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    log.error({ err: errorMessage(err), what }, 'recovery step failed');
  }
}
