import {
  costOf,
  crashPoint,
  FailedPreconditionError,
  logger,
  NotFoundError,
  nowNs,
  UnimplementedError,
} from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import { ContainerEventType, type CreateContainerRequest, type CreateContainerResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { containerName, createdStatus } from '../store/container.js';
import { toContainerSpec } from '../translate/container.js';
import { emit } from './lifecycle.js';
import { createOnce, fingerprint } from './support.js';

const log = logger('cri/create-container');

/**
 * CreateContainer: validate → pod READY (else FAILED_PRECONDITION) → image in the store (else NOT_FOUND) →
 * reserve `<name>_<pod id>_<attempt>` → record (`creating`), written while containerizer.createContainer
 * provisions (it awaits the record before any outside side effect) and made durable together with the
 * containerizer's own records → CREATED.
 *
 * Idempotent per request like RunPodSandbox: a retry of the same request waits for an attempt in flight
 * and returns its id; a different request with a taken name gets ALREADY_EXISTS naming the holder. A failed
 * attempt releases the name, so a retry after a failure is never refused for "name reserved".
 */
export function createContainer(deps: CriDeps) {
  return async (req: CreateContainerRequest, ctx: CallContext): Promise<CreateContainerResponse> => {
    const config = req.config!;
    const pod = deps.sandboxes.mustFind(req.podSandboxId);
    const podId = pod.meta.id;
    if (pod.status.state !== 'ready') {
      throw new FailedPreconditionError(`pod sandbox "${podId}" is not ready (${pod.status.state})`);
    }
    const containerizer = deps.containerizer.select(pod.meta.spec.runtimeHandler);
    // An absolute path is a checkpoint archive to restore (CheckpointContainer's output), not an image name.
    let requested = config.image!.image;
    let restore: { archive: string } | undefined;
    if (requested.startsWith('/')) {
      if (!containerizer.inspectCheckpoint) {
        throw new UnimplementedError(`runtime handler "${pod.meta.spec.runtimeHandler}" cannot restore checkpoints`);
      }
      restore = { archive: requested };
      requested = (await containerizer.inspectCheckpoint(requested, ctx.signal)).image.id;
    }
    const image = await costOf('step image lookup', () => deps.images.get(requested));
    if (!image) {
      const of = restore ? ` (recorded in checkpoint archive "${restore.archive}")` : '';
      throw new NotFoundError(`image "${requested}"${of} not found`);
    }
    // Image volumes (KEP-4639): each image must already be in the store; nothing is pulled here.
    const imageIds = new Map<string, string>();
    for (const m of config.mounts) {
      const ref = m.image?.image ?? '';
      if (ref === '' || imageIds.has(ref)) continue;
      const vol = await deps.images.get(ref);
      if (!vol) throw new NotFoundError(`image "${ref}" of volume "${m.containerPath}" not found`);
      imageIds.set(ref, vol.id);
    }
    const md = config.metadata!;
    const name = containerName(md.name, podId, md.attempt);
    const fp = fingerprint({ podId, config });
    const names = deps.containers.names;

    return createOnce({
      names,
      name,
      fingerprint: fp,
      what: 'container',
      signal: ctx.signal,
      existing: (held) => {
        if (!deps.containers.get(held)) return undefined;
        log.info({ id: held, name }, 'retried CreateContainer: returning the existing container');
        return { containerId: held };
      },
      body: async (id, signal, undo) => {
        const spec = toContainerSpec(id, pod.meta.spec, config, { id: image.id, ref: requested }, imageIds);
        if (restore) spec.restore = restore;
        // The record of intent (`creating`) is written while the containerizer provisions: it awaits `intent`
        // before its first side effect outside ucri's own records and store dirs (CreateContainerOptions), so
        // the record still precedes every mount, runtime container and cgroup (docs/performance.md, phase 6b).
        // Under the pod's lock: a Stop/Remove of the pod either ran before (we see it not ready) or waits
        // until the record exists (and then removes it with the pod). The containerizer is called only once
        // that lock is held: a Stop/Remove of the pod that held it could otherwise wait for the containerizer's
        // lock of this id (held while it awaits `intent`) while `intent` waits for the pod's lock.
        let locked!: () => void;
        const podLocked = new Promise<void>((resolve) => {
          locked = resolve;
        });
        const added = deps.locks.run(podId, async () => {
          locked();
          if (deps.sandboxes.get(podId)?.status.state !== 'ready') {
            throw new FailedPreconditionError(`pod sandbox "${podId}" is not ready`);
          }
          await deps.containers.add(
            {
              id,
              podId,
              spec,
              name,
              fingerprint: fp,
              createdAt: nowNs(),
              image: {
                requested,
                display: image.repoTags[0] ?? requested,
                id: image.id,
                ref: image.repoDigests[0] ?? image.id,
              },
              runtimeHandler: pod.meta.spec.runtimeHandler,
            },
            createdStatus(spec.resources),
            // Not fsync'd here: the containerizer makes it durable together with its own records, as the last
            // step of its create (durableWith below). Until then a power loss may drop it, and each
            // containerizer's recovery destroys what the create made as orphans (records, rootfs, bundle;
            // docker containers by label). After a crash of ucri alone the file is there: recovery adopts the
            // container if the containerizer recovered it, else rolls the create back (recover.ts).
            { durable: false },
          );
          crashPoint('CreateContainer', 'record');
        });
        added.catch(() => {}); // awaited through `intent` and by the undo
        // Removed only once the write has settled, so a failure never leaves the file of a write in flight.
        undo.add('remove record', async () => {
          await added.catch(() => {});
          await deps.containers.remove(id);
        });
        await Promise.race([podLocked, added]);
        await deps.locks.run(id, async () => {
          // Checked once the record is there and this lock held: a RemovePodSandbox may have removed it meanwhile.
          const intent = added.then(() => {
            if (!deps.containers.get(id)) throw new FailedPreconditionError(`pod sandbox "${podId}" was removed`);
          });
          intent.catch(() => {}); // awaited by the containerizer, and below
          let synced = false;
          const rt = await costOf('step containerizer create', () =>
            containerizer.createContainer(spec, deps.sandboxes.must(podId).meta.spec, signal, {
              intent,
              durableWith: async () => {
                await deps.containers.sync(id);
                synced = true;
              },
            }),
          );
          undo.add('remove container', (s) => containerizer.removeContainer(id, s));
          await intent; // resolved already unless the containerizer took no notice of it
          // With the `creating` record durable beside the containerizer's, `created` need not be written:
          // recovery adopts a `creating` record whose container the containerizer recovered (and takes the user
          // from it); the next status change (StartContainer's `running`) rewrites the file. A containerizer
          // without records of its own did not sync it: then this durable update is what makes the create so.
          await deps.containers.update(id, (s) => ({ ...s, state: 'created', user: rt.user }), {
            memoryOnly: synced,
          });
          crashPoint('CreateContainer', 'created');
        });
        log.info({ id, name, image: image.id }, 'container created');
        emit(deps, id, podId, ContainerEventType.CONTAINER_CREATED_EVENT);
        return { containerId: id };
      },
    });
  };
}
