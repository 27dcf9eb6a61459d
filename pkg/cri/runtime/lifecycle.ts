/**
 * Container steps that several verbs share: events, exit recording, stop and remove. Each takes the
 * container's lifecycle lock itself (never the pod's), and re-checks the record after every await, since a
 * concurrent Remove may have taken it away (STYLE 8).
 */
import type { Containerizer, Termination } from '../../containerizer/index.js';
import { costOf, crashPoint, errorMessage, isKind, logger, nowNs, untilAborted } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import { ContainerEventType } from '../gen/cri/v1/api.js';
import type { ContainerRecord, ContainerStatus } from '../store/container.js';
import type { SandboxRecord } from '../store/sandbox.js';
import { toContainerEvent } from '../translate/status.js';

const log = logger('cri/lifecycle');

/** The containerizer that runs a container (chosen once, by its pod's runtime handler). */
export function containerizerOf(deps: CriDeps, rec: ContainerRecord): Containerizer {
  return deps.containerizer.select(rec.meta.runtimeHandler);
}

/** The pod's current IPs: the containerizer's view when it has one, else the recorded ones. */
export function podIps(deps: CriDeps, podId: string): string[] {
  const pod = deps.sandboxes.get(podId);
  if (!pod) return [];
  try {
    return deps.containerizer.select(pod.meta.spec.runtimeHandler).podRuntime(podId)?.ips ?? pod.status.ips;
  } catch {
    return pod.status.ips;
  }
}

/** Publishes a container event built from the records as they are now. */
export function emit(deps: CriDeps, containerId: string, podId: string, type: ContainerEventType): void {
  if (deps.events.size === 0) return;
  deps.events.publish(
    toContainerEvent(
      containerId,
      type,
      nowNs(),
      deps.sandboxes.get(podId),
      podIps(deps, podId),
      deps.containers.ofPod(podId),
    ),
  );
}

/**
 * Records that a running container has ended and emits CONTAINER_STOPPED, once: a second report of the
 * same exit (the watcher and a StopContainer both see it) changes nothing.
 */
export async function recordExit(deps: CriDeps, id: string, term: Termination): Promise<void> {
  let changed = false;
  let rec: ContainerRecord;
  try {
    rec = await deps.containers.update(id, (s) => {
      if (s.state !== 'running' && s.state !== 'unknown') return s;
      changed = true;
      return exitedStatus(s, term);
    });
  } catch (err) {
    if (isKind(err, 'NotFound')) return; // removed meanwhile: nothing left to report on
    throw err;
  }
  if (changed) {
    log.info({ id, exitCode: term.exitCode, reason: term.reason }, 'container exited');
    emit(deps, id, rec.meta.podId, ContainerEventType.CONTAINER_STOPPED_EVENT);
  }
}

/** The status of a container after `term`. */
export function exitedStatus(s: Readonly<ContainerStatus>, term: Termination): ContainerStatus {
  return {
    ...s,
    state: 'exited',
    pid: 0,
    exitCode: term.exitCode,
    reason: term.reason || (term.exitCode === 0 ? 'Completed' : 'Error'),
    message: term.message,
    // Clocks of different resolution (the exit file's mtime vs a start time taken after `runc start`) can
    // put a fast exit before the recorded start; a status never shows a container ending before it began.
    finishedAt: maxBig(term.finishedAt > 0n ? term.finishedAt : nowNs(), s.startedAt),
  };
}

function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/**
 * Arms the exit watcher of a running container (idempotent): when the containerizer's wait() resolves, the
 * record becomes EXITED. A wait that fails because the container is gone is only logged; the record then
 * stays as it is until a Stop or Remove.
 */
export function watchExit(deps: CriDeps, rec: ContainerRecord): void {
  const id = rec.meta.id;
  if (deps.containers.watched.has(id)) return;
  deps.containers.watched.add(id);
  let c: Containerizer;
  try {
    c = containerizerOf(deps, rec);
  } catch (err) {
    deps.containers.watched.delete(id);
    log.error({ id, err: errorMessage(err) }, 'cannot watch container exit');
    return;
  }
  c.wait(id)
    .then(
      (term) => {
        deps.containers.watched.delete(id);
        return recordExit(deps, id, term);
      },
      (err: unknown) => {
        deps.containers.watched.delete(id);
        if (!isKind(err, 'NotFound')) log.error({ id, err: errorMessage(err) }, 'waiting for container exit failed');
      },
    )
    .catch((err: unknown) => log.error({ id, err: errorMessage(err) }, 'recording container exit failed'));
}

/**
 * Watches a ready pod for being lost on its own (the containerizer's waitPodLost, e.g. its infra process
 * died): the record then becomes `stopped`, so the pod is reported SANDBOX_NOTREADY and kubelet recreates
 * it. Idempotent per pod; a containerizer without waitPodLost is not watched.
 */
export function watchPod(deps: CriDeps, rec: SandboxRecord): void {
  const id = rec.meta.id;
  if (rec.status.state !== 'ready' || deps.sandboxes.watched.has(id)) return;
  let c: Containerizer;
  try {
    c = deps.containerizer.select(rec.meta.spec.runtimeHandler);
  } catch (err) {
    log.error({ id, err: errorMessage(err) }, 'cannot watch pod sandbox');
    return;
  }
  if (!c.waitPodLost) return;
  deps.sandboxes.watched.add(id);
  c.waitPodLost(id)
    .then(
      async (reason) => {
        deps.sandboxes.watched.delete(id);
        log.warn({ id, reason }, 'pod sandbox lost: now NOTREADY');
        await deps.sandboxes.update(id, (s) => (s.state === 'ready' ? { ...s, state: 'stopped' } : s));
      },
      (err: unknown) => {
        deps.sandboxes.watched.delete(id);
        if (!isKind(err, 'NotFound')) log.error({ id, err: errorMessage(err) }, 'watching pod sandbox failed');
      },
    )
    .catch((err: unknown) => {
      if (!isKind(err, 'NotFound')) log.error({ id, err: errorMessage(err) }, 'recording a lost pod sandbox failed');
    });
}

/**
 * Stops a container (idempotent): signals it, SIGKILL after `timeoutSeconds`, waits for the process to be
 * gone and records the exit before returning, so a Status right after shows EXITED. Created and exited
 * containers are left alone (as containerd and CRI-O do).
 */
export async function stopContainer(
  deps: CriDeps,
  id: string,
  timeoutSeconds: number,
  signal: AbortSignal,
): Promise<void> {
  await deps.locks.run(id, async () => {
    const rec = deps.containers.get(id);
    if (!rec || (rec.status.state !== 'running' && rec.status.state !== 'unknown')) return;
    const c = containerizerOf(deps, rec);
    await c.stopContainer(id, timeoutSeconds, signal);
    let term: Termination;
    try {
      term = await untilAborted(c.wait(id), signal);
    } catch (err) {
      if (!isKind(err, 'NotFound')) throw err;
      // The containerizer no longer knows it: the process is gone without a recorded status.
      term = { exitCode: 137, reason: 'Error', message: 'container was stopped', finishedAt: nowNs() };
    }
    await recordExit(deps, id, term);
  });
}

/**
 * Removes a container (idempotent): kills it if it still runs, has the containerizer remove what it made,
 * deletes the record and emits CONTAINER_DELETED. The containerizer may release the container's rootfs,
 * runtime state and dirs in the background (`later`) once its process is gone: nobody sees them any more
 * once the record is deleted, and a crash before they are released leaves an orphan that the
 * containerizer's recovery destroys (this record being gone, or still there and removed again).
 */
export async function removeContainer(deps: CriDeps, id: string, signal: AbortSignal): Promise<void> {
  // The release starts once this call has returned and its answer has been handed to the connection (the
  // answer is written from the microtasks that follow; an immediate runs after them): it shares the event
  // loop and the thread pool with the record's removal and the answer, and nobody waits for it.
  let answered!: () => void;
  const releaseAfter = new Promise<void>((resolve) => (answered = resolve));
  try {
    await deps.locks.run(id, async () => {
      const rec = deps.containers.get(id);
      if (!rec) return;
      const c = containerizerOf(deps, rec);
      await costOf('step containerizer remove', () => c.removeContainer(id, signal, { later: true, releaseAfter }));
      crashPoint('RemoveContainer', 'handed-off');
      // Durable (unlink, then the directory fsync'd) before the answer: an answered removal stays removed.
      await costOf('step record remove', () => deps.containers.remove(id));
      log.info({ id }, 'container removed');
      emit(deps, id, rec.meta.podId, ContainerEventType.CONTAINER_DELETED_EVENT);
    });
  } finally {
    setImmediate(answered);
  }
}
