import { errorMessage, FailedPreconditionError, logger, NotFoundError, nowNs } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import { ContainerEventType, type StartContainerRequest, type StartContainerResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { containerizerOf, emit, watchExit } from './lifecycle.js';

const log = logger('cri/start-container');

/** Exit code and reason of a container whose start failed (containerd's choice; kubelet shows the reason). */
const START_ERROR_CODE = 128;

/**
 * StartContainer: CREATED → RUNNING through containerizer.startContainer, then the exit watcher is armed.
 * Starting a container that already runs succeeds without doing anything (a retried start).
 * A failed start leaves the container EXITED with reason StartError and the error as message (the
 * containerizer has already rolled its side back), so kubelet sees why and restarts per policy.
 */
export function startContainer(deps: CriDeps) {
  return async (req: StartContainerRequest, ctx: CallContext): Promise<StartContainerResponse> => {
    const id = deps.containers.mustFind(req.containerId).meta.id;
    await deps.locks.run(id, async () => {
      const rec = deps.containers.get(id);
      if (!rec) throw new NotFoundError(`container "${id}" not found`);
      // A retry of a start that succeeded, but whose answer a crash or a client timeout lost, succeeds too.
      if (rec.status.state === 'running') return;
      if (rec.status.state !== 'created') {
        throw new FailedPreconditionError(`container "${id}" is ${rec.status.state}, not created`);
      }
      const pod = deps.sandboxes.get(rec.meta.podId);
      if (pod?.status.state !== 'ready') {
        throw new FailedPreconditionError(`pod sandbox "${rec.meta.podId}" of container "${id}" is not ready`);
      }
      const c = containerizerOf(deps, rec);
      let rt: Awaited<ReturnType<typeof c.startContainer>>;
      try {
        rt = await c.startContainer(id, ctx.signal);
      } catch (err) {
        await deps.containers
          .update(id, (s) => ({
            ...s,
            state: 'exited',
            exitCode: START_ERROR_CODE,
            reason: 'StartError',
            message: errorMessage(err),
            finishedAt: nowNs(),
          }))
          .catch(() => undefined);
        emit(deps, id, rec.meta.podId, ContainerEventType.CONTAINER_STOPPED_EVENT);
        throw err;
      }
      // Not fsync'd: the containerizer's own record of the start is durable when startContainer returns, and
      // start-up recovery reconciles a record still saying `created` with it (recover.ts: running or exited).
      const now = await deps.containers.update(
        id,
        (s) => ({
          ...s,
          state: 'running',
          pid: rt.pid,
          startedAt: rt.startedAt > 0n ? rt.startedAt : nowNs(),
          user: rt.user ?? s.user,
        }),
        { durable: false },
      );
      log.info({ id, pid: rt.pid }, 'container started');
      emit(deps, id, rec.meta.podId, ContainerEventType.CONTAINER_STARTED_EVENT);
      watchExit(deps, now);
    });
    return {};
  };
}
