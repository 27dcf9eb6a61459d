/**
 * Container lifecycle of the Mesos containerizer (state diagram in records.ts): create = provision (rootfs
 * not mounted) + prepare + bundle dir; start = rootfs mount → launcher create → isolate(pid) → launcher
 * start; stop = stop signal, grace, SIGKILL; remove = launcher destroy → (isolators cleanup (reverse) ‖ provisioner
 * destroy ‖ bundle) → record dir.
 *
 * Every mutating operation runs under the container's key of the engine lock. Exits are recorded by the
 * exit watcher without that lock (stop waits for the exit while holding it), once per container.
 */
import { promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import {
  type ContainerSpec,
  type CreateContainerOptions,
  emptyImageConfig,
  type RemoveContainerOptions,
  type Termination,
} from '../../containerizer/index.js';
import { Conmon } from '../../oci/index.js';
import { isAlive, oomKilled, sleep } from '../../sys/index.js';
import {
  allSteps,
  AlreadyExistsError,
  CancelledError,
  costOf,
  crashPoint,
  errorMessage,
  FailedPreconditionError,
  fromAbort,
  isKind,
  mkdirOnceSync,
  NotFoundError,
  nowNs,
  removeTree,
  Rollback,
  settleAll,
  syncDir,
  UnavailableError,
} from '../../util/index.js';
import type { ContainerContext, Isolator, Limitation } from '../isolator.js';
import { prepareRestore, restoreDir } from './checkpoint.js';
import { type Engine, getContainer, getPod, log, type NamedLaunchInfo } from './engine.js';
import {
  Container,
  type ContainerRecord,
  provisionedFacts,
  RECORD_VERSION,
  saveContainer,
  saveNewContainer,
} from './records.js';
import { diskLimitation } from './disk-limits.js';
import { normalizeStopSignal } from './signals.js';

/** How long a container may take to die after SIGKILL before stop gives up (D state, stuck mount). */
const KILL_WAIT_MS = 60_000;

/**
 * PROVISIONING → PREPARING: rootfs (not mounted: StartContainer mounts it), isolators' launch infos, OCI
 * spec; no process. The caller's record of intent (`opts.intent`) is awaited after the provision and before
 * the isolators' prepare, the first step that may reach outside ucri's own records (a mount, a lease). The
 * last step makes the container record, the provisioner record and the caller's own record
 * (`opts.durableWith`) durable at once.
 */
export async function createContainer(
  e: Engine,
  spec: ContainerSpec,
  signal: AbortSignal,
  opts: CreateContainerOptions = {},
): Promise<Container> {
  return e.lock.run(spec.id, async () => {
    if (e.containers.has(spec.id)) throw new AlreadyExistsError(`container "${spec.id}" already exists`);
    const pod = getPod(e, spec.podId);
    if (!pod.ready) throw new FailedPreconditionError(`pod sandbox "${pod.id}" is not ready`);
    if (spec.mounts.some((m) => m.image !== undefined) && !e.isolators.some((i) => i.name === 'volume/image')) {
      throw new FailedPreconditionError('image volumes need the volume/image isolator (--isolation)');
    }
    const rec: ContainerRecord = {
      version: RECORD_VERSION,
      spec,
      state: 'PROVISIONING',
      image: { config: emptyImageConfig(), kind: 'docker' },
      provisioned: { rootfs: '', backend: '' },
      cgroup: e.cgroups.container(pod.rec.state, spec),
      oci: { ociVersion: '' },
      stopSignal: '',
      startedAt: 0n,
      createdAt: nowNs(),
    };
    const c = new Container(rec, pod, e.paths.bundle(pod.id, spec.id));
    e.containers.set(spec.id, c);
    pod.containers.add(spec.id);
    const undo = new Rollback(log);
    try {
      if (spec.namespaces.pid === 'target') rec.targetPid = runningPid(e, spec.namespaces.targetId);
      // The bundle dir is made before the rootfs is provisioned (recovery's bundle sweep removes a bundle
      // without a container record, whichever of the two a crash interrupted). It and the record dir below
      // are made on the event loop, one mkdir each: through the thread pool, behind the fsyncs and removals
      // of other verbs queued there, the create waited ~0.7 ms for them after its provision
      // (docs/performance.md, "Phase 16").
      const bundleMade = (async () => mkdirOnceSync(c.bundle, 0o700))();
      bundleMade.catch(() => {}); // awaited after the provision, or by the undo when that fails
      undo.add('bundle', async () => {
        await bundleMade.catch(() => {});
        await fs.rm(c.bundle, { recursive: true, force: true });
      });
      // So is the record dir, so that the durable round only renames container.json into it. A dir without
      // container.json is a broken record to loadRecords, removed at recovery.
      const recordDir = e.paths.containerRecordDir(pod.id, spec.id);
      const recordDirMade = (async () => mkdirOnceSync(recordDir, 0o700))();
      recordDirMade.catch(() => {});
      // Each fsync of the durable round whose file is already final starts as soon as it is, and overlaps the
      // steps before the round, which then waits only for container.json's own (docs/performance.md,
      // "Phase 11"). Durable early is still durable in the round: any subset of the round's
      // records may survive a power loss, and each subset is handled (the durable round's comment below).
      // A failure of one of them is the create's failure when the round awaits it; before, the create has
      // failed on its own and rolls back (their `catch` only keeps the rejection from going unhandled).
      const parentSynced = recordDirMade.then(() => syncDir(e.paths.containerRecordsDir(pod.id)));
      parentSynced.catch(() => {});
      undo.add('record', async () => {
        await recordDirMade.catch(() => {});
        await fs.rm(recordDir, { recursive: true, force: true });
      });
      // Not mounted (deferMount): the overlay is mounted by startContainer, or by an isolator's prepare that
      // reads the rootfs (ctx.mountRootfs). A restore writes its changes into the rootfs now: mounted now.
      const deferMount = !spec.restore && e.provisioner.mount !== undefined;
      const p = await costOf('step provision', () =>
        e.provisioner.provision(spec.id, spec.image.id, {
          readonlyRootfs: spec.readonlyRootfs,
          signal,
          deferSync: e.provisioner.sync !== undefined,
          deferMount,
          // A rootfs mounted at provision (a restore, the bind backend) is mounted after the intent.
          intent: opts.intent,
        }),
      );
      undo.add('rootfs', () => e.provisioner.destroy(spec.id));
      const provisionSynced = e.provisioner.sync?.(spec.id);
      provisionSynced?.catch(() => {});
      crashPoint('CreateContainer', 'rootfs');
      // Up to here only dirs of ucri's own stores were made (rootfs dirs and record.json renamed, a mount only
      // after the intent; bundle and record dirs), each removed at recovery when no record names it. From here
      // on (mounts of the rootfs or image volumes, leases) the caller's record of intent must exist.
      await costOf('step await intent', async () => opts.intent);
      const callerSynced = opts.durableWith?.();
      callerSynced?.catch(() => {});
      rec.image = { config: p.image.config, kind: p.image.kind };
      rec.provisioned = provisionedFacts(p);
      rec.stopSignal = normalizeStopSignal(p.image.config.stopSignal, spec.id);
      await bundleMade;
      if (spec.restore) await prepareRestore(spec.restore.archive, restoreDir(c), p.rootfs, signal);

      rec.state = 'PREPARING';
      // Only prepare sees the key: from start on, the container writes into its rootfs.
      const ctx: ContainerContext = spec.restore
        ? c.context()
        : { ...c.context(), rootfsKey: JSON.stringify([p.backend, p.image.imageId, p.image.layerDirs]) };
      if (deferMount) {
        const mount = e.provisioner.mount!.bind(e.provisioner);
        ctx.mountRootfs = () => costOf('step rootfs mount at create', () => mount(spec.id, signal));
      }
      const prepared: Isolator[] = [];
      undo.add('isolators cleanup', () => cleanupIsolators(ctx, prepared));
      const infos: NamedLaunchInfo[] = [];
      for (const iso of e.isolators) {
        if (!iso.prepare) continue;
        prepared.push(iso);
        const info = await costOf(`step prepare ${iso.name}`, () => iso.prepare!(ctx, signal));
        if (info) infos.push({ isolator: iso.name, info });
      }
      const oci = await costOf('step build spec', async () => e.buildSpec(ctx, infos));
      oci.linux ??= {};
      oci.linux.cgroupsPath ??= e.cgroups.ociPath(rec.cgroup);
      rec.oci = oci;
      // No config.json yet: the launcher writes it from rec.oci before every `runc create` (resources may
      // change in between), its only reader; writing it here too cost a rename per create for nothing
      // (docs/performance.md "CreateContainer, phase 6"). The bundle dir exists, so does the restore dir.
      crashPoint('CreateContainer', 'bundle');
      // The pod may have been stopped while we awaited: do not leave a container in a stopped pod.
      if (!pod.ready || e.pods.get(pod.id) !== pod) {
        throw new FailedPreconditionError(
          `pod sandbox "${pod.id}" was stopped while container "${spec.id}" was created`,
        );
      }
      await recordDirMade;
      // The three records durable at once (concurrent fsyncs share the journal commits): ours, the
      // provisioner's and the caller's (still `creating`). A power loss during this round may keep any of
      // them: without the caller's, ours are orphans; without ours (or with ours torn: saveNewContainer),
      // the caller rolls its create back; ours without the provisioner's is a create that did not finish,
      // destroyed at recovery (recover.ts); all three make a whole container, which the caller adopts
      // (docs/performance.md, phases 5 and 6b).
      await costOf('step durable round', () =>
        Promise.all([saveNewContainer(e.paths, rec, { parentSynced }), provisionSynced, callerSynced]),
      );
      crashPoint('CreateContainer', 'saved');
      undo.commit();
      return c;
    } catch (err) {
      await undo.run({ id: spec.id });
      e.containers.delete(spec.id);
      pod.containers.delete(spec.id);
      c.rejectExit(new NotFoundError(`container "${spec.id}" was not created`));
      throw fromAbort(err, signal);
    }
  });
}

/** PREPARING → ISOLATING → RUNNING. A failure leaves the container created, with nothing running. */
export async function startContainer(e: Engine, id: string, signal: AbortSignal): Promise<Container> {
  return e.lock.run(id, async () => {
    const c = getContainer(e, id);
    if (c.rec.state !== 'PREPARING') {
      throw new FailedPreconditionError(`container "${id}" is not in the created state (${c.rec.state})`);
    }
    if (!c.pod.ready) throw new FailedPreconditionError(`pod sandbox "${c.pod.id}" is not ready`);
    const spec = c.rec.spec;
    const undo = new Rollback(log);
    c.rec.state = 'ISOLATING';
    undo.add('state', async () => {
      c.rec.state = 'PREPARING';
      c.rec.launched = undefined;
      c.rec.startedAt = 0n;
      await saveContainer(e.paths, c.rec);
    });
    try {
      if (c.rec.targetPid !== undefined) await verifyTarget(e, c);
      // The intent is recorded before conmon and `runc create`: a crash from here on leaves a record that tells
      // recovery to delete the runtime container (and its conmon) even if the launch never got recorded. It is
      // not fsync'd: conmon, the runtime container (its state lives in the runtime dir, a tmpfs) and its cgroup
      // do not outlive a reboot, and a crash of ucri alone leaves the renamed file for the next ucri to read.
      // The rootfs is mounted meanwhile (created containers have it unmounted, docs/performance.md phase 6b):
      // the mount's record of intent is the provisioner's record, durable since the create, and the mount
      // lies under that container's provisioner dir. A crash after it leaves a created container (recovery
      // undoes the start) with its rootfs mounted, which the next start finds so and a removal (or recovery
      // of an id no record names) unmounts with the dir.
      const mounted = e.provisioner.mount
        ? costOf('step rootfs mount', () => e.provisioner.mount!(id, signal))
        : Promise.resolve();
      mounted.catch(() => {}); // awaited below, also when the intent's write fails
      try {
        await saveContainer(e.paths, c.rec, { durable: false });
      } finally {
        await mounted.catch(() => {});
      }
      crashPoint('StartContainer', 'intent');
      await mounted;
      crashPoint('StartContainer', 'rootfs');
      const launched = await costOf('step launcher create', () =>
        e.launcher.create(
          {
            id,
            bundle: c.bundle,
            spec: c.rec.oci,
            logPath: spec.logPath === '' ? '/dev/null' : spec.logPath,
            tty: spec.tty,
            stdin: spec.stdin,
            stdinOnce: spec.stdinOnce,
            restore: spec.restore
              ? { imagePath: path.join(restoreDir(c), 'checkpoint'), workPath: path.join(c.bundle, 'restore-work') }
              : undefined,
          },
          signal,
        ),
      );
      undo.add('launch', () => e.launcher.destroy(id));
      // Not recorded until RUNNING: a crash from here on leaves the ISOLATING intent, and recovery finds this
      // conmon through the bundle's conmon.pid (checked against its command line) and deletes the runtime
      // container (recover.ts undoInterruptedStart), as for a crash during `runc create`.
      c.rec.launched = launched;
      crashPoint('StartContainer', 'runtime-created');

      const ctx = c.context();
      const results = await costOf('step isolate', () =>
        Promise.allSettled(e.isolators.map((iso) => iso.isolate?.(ctx, launched.pid, signal))),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      crashPoint('StartContainer', 'isolated');
      if (c.rec.pendingResources) {
        await updateThroughIsolators(e, c, signal);
        c.rec.pendingResources = false;
      }
      if (signal.aborted) throw fromAbort(new CancelledError(`start of container "${id}" aborted`), signal);
      // A restored container runs once `runc restore` returns: there is nothing to start.
      if (!spec.restore) await costOf('step launcher start', () => e.launcher.start(id));
      crashPoint('StartContainer', 'runtime-started');
      c.rec.state = 'RUNNING';
      c.rec.startedAt = nowNs();
      await saveContainer(e.paths, c.rec);
      crashPoint('StartContainer', 'running');
      undo.commit();
      armExitWatcher(e, c);
      return c;
    } catch (err) {
      await undo.run({ id });
      throw fromAbort(err, signal);
    }
  });
}

/** Resolves the pid of the running container whose pid namespace a `target` container joins. */
function runningPid(e: Engine, targetId: string): number {
  const t = e.containers.get(targetId);
  if (t?.rec.state !== 'RUNNING' || !t.rec.launched) {
    throw new FailedPreconditionError(`target container "${targetId}" is not running`);
  }
  return t.rec.launched.pid;
}

/**
 * A `target` container joins `/proc/<targetPid>/ns/pid`, resolved at create: right before the launch, that
 * pid must still be the target's init (same start time), or the join could land in a stranger's namespace.
 */
async function verifyTarget(e: Engine, c: Container): Promise<void> {
  const targetId = c.rec.spec.namespaces.targetId;
  const t = e.containers.get(targetId);
  const l = t?.rec.launched;
  const same =
    t?.rec.state === 'RUNNING' &&
    !t.rec.termination &&
    l !== undefined &&
    l.pid === c.rec.targetPid &&
    l.pidStartTime > 0 &&
    (await isAlive(l.pid, BigInt(l.pidStartTime)));
  if (!same) throw new FailedPreconditionError(`target container "${targetId}" of "${c.id}" is no longer running`);
}

/** Watches for the end of a running container and records it (works for recovered containers too). */
export function armExitWatcher(e: Engine, c: Container): void {
  const launched = c.rec.launched;
  if (!launched || c.rec.termination) return;
  c.watcher?.abort();
  const ac = new AbortController();
  c.watcher = ac;
  e.launcher.waitExit(c.id, launched, ac.signal).then(
    (code) => recordExit(e, c, code, ''),
    async (err: unknown) => {
      if (ac.signal.aborted) return;
      // conmon died without writing the exit status: nothing can tell it any more (Mesos: treat as killed).
      log.warn({ id: c.id, err: errorMessage(err) }, 'container monitor gone without an exit status');
      await e.launcher.kill(c.id, 'SIGKILL', true).catch(() => {});
      await recordExit(e, c, 137, 'the container monitor (conmon) exited without recording an exit status');
    },
  );
}

/** Records the termination once: limitation (OOM) asked before the cgroup goes, checkpoint, then wake waiters. */
export function recordExit(e: Engine, c: Container, code: number, message: string): Promise<void> {
  if (c.rec.termination) return Promise.resolve();
  c.recording ??= (async () => {
    const limitation = await askLimitation(e, c);
    const t: Termination = {
      exitCode: code,
      reason: limitation?.reason ?? (code === 0 ? 'Completed' : 'Error'),
      message: limitation?.message ?? message,
      finishedAt: await exitTime(e, c.id),
    };
    c.rec.termination = t;
    if (c.rec.state !== 'DESTROYING') {
      c.rec.state = 'TERMINATED';
      await saveContainer(e.paths, c.rec).catch((err: unknown) =>
        log.warn({ id: c.id, err: errorMessage(err) }, 'cannot checkpoint termination'),
      );
    }
    c.watcher = undefined;
    c.resolveExit(t);
  })();
  return c.recording;
}

/** A disk limit the container crossed, else the isolators' limitation (cgroups/mem: OOMKilled), else conmon's or the cgroup's record of an OOM kill. */
async function askLimitation(e: Engine, c: Container): Promise<Limitation | undefined> {
  const disk = diskLimitation(c);
  if (disk) return disk;
  const ctx = c.context();
  for (const iso of e.isolators) {
    if (!iso.limitation) continue;
    try {
      const l = await iso.limitation(ctx);
      if (l) return l;
    } catch (err) {
      log.warn({ id: c.id, isolator: iso.name, err: errorMessage(err) }, 'limitation check failed');
    }
  }
  const oom = (await Conmon.sawOom(c.bundle)) || (await oomKilled(c.rec.cgroup).catch(() => false));
  return oom ? { reason: 'OOMKilled', message: 'the container was killed for running out of memory' } : undefined;
}

/** When the exit file was written (conmon writes it at the exit), else now. */
async function exitTime(e: Engine, id: string): Promise<bigint> {
  // A stat in the runtime dir, on the event loop: on every exit's path to the caller (StopContainer).
  try {
    return statSync(e.paths.exitFile(id), { bigint: true, throwIfNoEntry: false })?.mtimeNs ?? nowNs();
  } catch {
    return nowNs();
  }
}

/** Stop signal, grace, SIGKILL; resolves when the process is gone. Idempotent; unknown ids succeed. */
export async function stopContainer(e: Engine, id: string, timeoutSeconds: number, signal: AbortSignal): Promise<void> {
  if (!e.containers.has(id)) return;
  await e.lock.run(id, async () => {
    const c = e.containers.get(id);
    if (!c?.rec.launched || c.rec.termination) return;
    await terminate(e, c, timeoutSeconds, signal);
    await c.recording;
    crashPoint('StopContainer', 'exited');
  });
}

async function terminate(e: Engine, c: Container, timeoutSeconds: number, signal: AbortSignal): Promise<void> {
  const kill = async (sig: string, all: boolean): Promise<void> => {
    try {
      await e.launcher.kill(c.id, sig, all);
    } catch (err) {
      if (!isKind(err, 'NotFound')) throw err;
    }
  };
  if (timeoutSeconds > 0) {
    await kill(c.rec.stopSignal || 'SIGTERM', false);
    crashPoint('StopContainer', 'signalled');
    if (await exitedWithin(c, timeoutSeconds * 1000, signal)) return;
  }
  // --all: with a shared pid namespace the init's death does not take the container's other processes along.
  await kill('SIGKILL', true);
  crashPoint('StopContainer', 'signalled');
  if (!(await exitedWithin(c, KILL_WAIT_MS, signal))) {
    throw new UnavailableError(`container "${c.id}" did not exit after SIGKILL`);
  }
}

/** True once the container's exit is recorded, false after `ms`; the abort's error when `signal` fires. */
async function exitedWithin(c: Container, ms: number, signal: AbortSignal): Promise<boolean> {
  const timer = new AbortController();
  const onAbort = (): void => timer.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const done = await Promise.race([c.exited.then(() => true), sleep(ms, timer.signal).then(() => false)]);
    if (!done && signal.aborted) throw fromAbort(new CancelledError(`stop of container "${c.id}" aborted`), signal);
    return done;
  } finally {
    timer.abort();
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Kills (if running) and releases everything of the container; idempotent, unknown ids succeed.
 *
 * With `later`, only the kill happens before this returns: the container is forgotten at once (unknown to
 * every other call) and its release (runtime container, isolators, rootfs unmount and removal, bundle,
 * record) runs in the background, under its lock. Its record stays on disk until the last step, so a crash
 * meanwhile leaves a container that the caller no longer knows once it has dropped its own record: recovery
 * destroys it as an orphan, through the same steps. `releaseAfter` holds the release back until the caller
 * has answered (it runs on the same event loop and thread pool as the answer). A release that fails is
 * logged and done again by the next removeContainer without `later` of that id, by removePod of its pod, or
 * at recovery.
 */
export async function removeContainer(e: Engine, id: string, opts: RemoveContainerOptions = {}): Promise<void> {
  if (!e.containers.has(id)) {
    if (!opts.later) await finishRelease(e, id);
    return;
  }
  await e.lock.run(id, async () => {
    const c = e.containers.get(id);
    if (!c) return;
    if (!opts.later) {
      await destroyContainer(e, c);
      forget(e, c);
      c.pod.containers.delete(id);
      return;
    }
    await stopForDestroy(e, c);
    forget(e, c);
    const after = opts.releaseAfter;
    const done = e.lock
      .run(id, async () => {
        if (after) await after.catch(() => undefined);
        await costOf('step release', () => releaseContainer(e, c));
      })
      .then(
        () => {
          e.releasing.delete(id);
          c.pod.containers.delete(id);
          return true;
        },
        (err: unknown) => {
          log.warn({ id, err: errorMessage(err) }, 'releasing a removed container failed: retried at pod removal');
          return false;
        },
      );
    e.releasing.set(id, { container: c, done });
  });
}

function forget(e: Engine, c: Container): void {
  e.containers.delete(c.id);
  c.rejectExit(new NotFoundError(`container "${c.id}" was removed`));
}

/** Waits for the background release of `id`, if one was started, and redoes it if it failed (then throws). */
async function finishRelease(e: Engine, id: string): Promise<void> {
  const r = e.releasing.get(id);
  if (!r || (await r.done)) return;
  await e.lock.run(id, async () => {
    if (e.releasing.get(id) !== r) return;
    await releaseContainer(e, r.container);
    e.releasing.delete(id);
    r.container.pod.containers.delete(id);
  });
}

/** Waits until every background release has ended (daemon shutdown: nothing is left half-released). */
export async function drainReleases(e: Engine): Promise<void> {
  await Promise.all([...e.releasing.values()].map((r) => r.done));
}

/** The DESTROYING steps, all tried; on failure the container stays DESTROYING and a retry redoes them. */
export async function destroyContainer(e: Engine, c: Container): Promise<void> {
  await stopForDestroy(e, c);
  await releaseContainer(e, c);
}

/** DESTROYING: the process is killed if it still runs, the exit watcher stopped. */
async function stopForDestroy(e: Engine, c: Container): Promise<void> {
  c.rec.state = 'DESTROYING';
  if (c.rec.launched && !c.rec.termination && c.watcher) {
    await terminate(e, c, 0, AbortSignal.timeout(KILL_WAIT_MS + 5_000));
  }
  c.watcher?.abort();
}

/**
 * Everything of a container whose process is gone, all steps tried, the record last. The runtime container
 * goes first (its processes, cgroup and bundle files are the runtime's until then); the isolators' cleanup,
 * the rootfs (unmount, rm -r) and the bundle depend on nothing of each other and are released concurrently
 * (docs/performance.md, "Container verbs, phase 8"); the record dir is removed only once all three have
 * settled, so a crash anywhere before leaves the record that makes recovery redo the release.
 */
async function releaseContainer(e: Engine, c: Container): Promise<void> {
  const ctx = c.context();
  await allSteps([
    () => costOf('step launcher destroy', () => e.launcher.destroy(c.id)),
    async () => crashPoint('RemoveContainer', 'runtime-deleted'),
    () =>
      settleAll([
        costOf('step isolators cleanup', () => cleanupIsolators(ctx, e.isolators)),
        costOf('step provisioner destroy', () => e.provisioner.destroy(c.id)).then(() =>
          crashPoint('RemoveContainer', 'rootfs-released'),
        ),
        costOf('step rm bundle', () => removeTree(c.bundle)),
      ]),
    () => costOf('step rm record', () => removeTree(e.paths.containerRecordDir(c.pod.id, c.id))),
  ]);
  crashPoint('RemoveContainer', 'record-removed');
}

/** cleanup of `isolators` in reverse table order, every one tried. */
export async function cleanupIsolators(ctx: ContainerContext, isolators: readonly Isolator[]): Promise<void> {
  await allSteps([...isolators].reverse().map((iso) => async () => iso.cleanup?.(ctx)));
}

/** Applies `c.rec.spec.resources` through the isolators that implement update, in table order. */
export async function updateThroughIsolators(e: Engine, c: Container, signal: AbortSignal): Promise<boolean> {
  const ctx = c.context();
  let any = false;
  for (const iso of e.isolators) {
    if (!iso.update) continue;
    any = true;
    await iso.update(ctx, c.rec.spec.resources, signal);
  }
  return any;
}
