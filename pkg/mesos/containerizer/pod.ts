/**
 * Pod sandboxes as Mesos parent containers without a process (ARCHITECTURE decision 2): the pod's network,
 * IPC and UTS namespaces are created and pinned by bind mounts (pkg/sys createPinnedNamespaces), host ones
 * (NODE modes) are simply not pinned, and the isolators' setupPod hooks make the pod cgroup and attach the
 * network (CNI ADD). Only a pod that asks for a shared PID namespace gets a process: the infra container
 * (containerizer/infra.ts), whose pid namespace is pinned too and whose death makes the pod not ready.
 *
 *   runPod:    pins + checkpoint (SETTING_UP) + CNI checkpoint ─► setupPod of every isolator at once (cgroup,
 *              files, CNI ADD) ─► infra ─► READY
 *              (READY and STOPPED are renamed into place without fsync; SETTING_UP and STOPPING are fsync'd)
 *   stopPod:   checkpoint (STOPPING) ─► containers SIGKILLed ─► teardownPod in reverse (CNI DEL) ─► infra
 *              stopped ─► STOPPED
 *   removePod: containers removed ─► cleanupPod in reverse ─► infra deleted ─► pins, cgroup, dirs removed
 *
 * Every step outside the records comes after a checkpoint that names it, so recovery can finish or undo it
 * (containerizer/recover.ts); `crashPoint` marks the windows for the crash tests.
 */
import { promises as fs } from 'node:fs';
import type { PodRuntime, PodSpec } from '../../containerizer/index.js';
import {
  createPinnedNamespaces,
  destroyCgroup,
  ensurePinRoot,
  type NamespacePins,
  isMountPoint,
  listPinnedIds,
  type PinnedKind,
  pinPaths,
  removePinnedNamespaces,
  unmount,
  unmountAllUnder,
} from '../../sys/index.js';
import {
  allSteps,
  AlreadyExistsError,
  costOf,
  crashPoint,
  errorMessage,
  FailedPreconditionError,
  fromAbort,
  NotFoundError,
  nowNs,
  removeTree,
  Rollback,
} from '../../util/index.js';
import type { PodContext, PodState } from '../isolator.js';
import { infraId } from '../paths.js';
import { removeContainer, stopContainer } from './containers.js';
import { type Engine, log } from './engine.js';
import { armInfraWatcher, startInfra, stopInfra } from './infra.js';
import { Pod, type PodRecord, RECORD_VERSION, savePod } from './records.js';

export { HOST_BUSYBOX } from './infra.js';

/** Creates the pod (see the diagram above). On failure everything made is undone and nothing is recorded. */
export async function runPod(e: Engine, spec: PodSpec, signal: AbortSignal): Promise<Pod> {
  if (e.pods.has(spec.id)) throw new AlreadyExistsError(`pod sandbox "${spec.id}" already exists`);
  if (e.launcher.name === 'posix' && spec.namespaces.network === 'pod') {
    throw new FailedPreconditionError(
      `pod sandbox "${spec.id}" needs its own network namespace, which the posix launcher cannot give; use host networking or the linux launcher`,
    );
  }
  const undo = new Rollback(log);
  const state: PodState = {
    id: spec.id,
    dir: e.paths.podFilesDir(spec.id),
    cgroup: e.cgroups.pod(spec),
    ips: [],
    infraPid: 0,
    data: {},
  };
  const rec: PodRecord = { version: RECORD_VERSION, spec, state, phase: 'SETTING_UP', createdAt: nowNs() };
  const pod = new Pod(rec);
  // Visible at once so a concurrent runPod of the same id fails instead of racing; removed on failure.
  e.pods.set(spec.id, pod);
  try {
    await fs.mkdir(state.dir, { recursive: true, mode: 0o711 });
    undo.add('pod runtime dir', () => removePodRuntimeDir(e, spec.id));
    await fs.mkdir(e.paths.podRecordDir(spec.id), { recursive: true, mode: 0o700 });
    undo.add('pod record', () => fs.rm(e.paths.podRecordDir(spec.id), { recursive: true, force: true }));

    const kinds = pinnedKinds(e, spec);
    if (kinds.length > 0) {
      // The pins' paths are known before they exist, so the record can name them while they are made.
      const pins: NamespacePins = pinPaths(e.paths.pinRoot, spec.id, kinds);
      state.netns = pins.net;
      state.ipcns = pins.ipc;
      state.utsns = pins.uts;
    }
    const ctx = pod.context();
    const setUp = e.isolators.filter((iso) => iso.setupPod !== undefined);
    // Undone newest first: the isolators (CNI DEL while the pins still exist), then the pins (absent: a no-op).
    if (kinds.length > 0) undo.add('namespace pins', (s) => removePinnedNamespaces(e.paths.pinRoot, spec.id, s));
    undo.add('isolators setupPod', () => teardownIsolators(e, ctx, setUp, AbortSignal.timeout(60_000), true));
    // The record (with the netns path) is durable before CNI ADD, so a crash there is torn down at recovery.
    // It is written while the namespaces are pinned: pins without a record are swept at start-up, and a
    // record whose pins were never made is torn down as well (removing absent pins is a no-op).
    const saved = savePod(e.paths, rec);
    const ready = (async () => {
      try {
        if (kinds.length > 0) {
          await ensurePinRoot(e.paths.pinRoot, signal);
          await createPinnedNamespaces(e.paths.pinRoot, spec.id, {
            kinds,
            hostname: kinds.includes('uts') && spec.hostname !== '' ? spec.hostname : undefined,
            signal,
          });
          crashPoint('RunPodSandbox', 'pins');
        }
      } finally {
        // Settled before anything else (the undo removes the record's directory).
        await saved.catch(() => {});
      }
      await saved;
      crashPoint('RunPodSandbox', 'setup-record');
    })();
    // An isolator that may start before the record is durable (network/cni: its own checkpoint of intent is
    // written meanwhile, its ADD waits for `ready`) does; the others start once `ready` has resolved. Then all
    // at once: network/cni's plugins (most of the verb) overlap the pod's files, shm mount and cgroup. None
    // reads what another makes here; the undo waits until every one has settled.
    const early = setUp.filter((iso) => iso.setupBeforeRecord).map((iso) => iso.setupPod!(ctx, signal, ready));
    try {
      await ready;
    } catch (err) {
      await Promise.allSettled(early);
      throw err;
    }
    const late = setUp.filter((iso) => !iso.setupBeforeRecord).map((iso) => iso.setupPod!(ctx, signal));
    const settled = await Promise.allSettled([...early, ...late]);
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    crashPoint('RunPodSandbox', 'network');

    if (spec.namespaces.pid === 'pod' && e.launcher.name === 'linux') {
      // A crash while it is made leaves a SETTING_UP record: recovery destroys `<pod>-infra` and the pins.
      rec.infra = await startInfra(e, spec, state, signal);
      undo.add('infra container', () => e.launcher.destroy(infraId(spec.id)));
    }
    rec.phase = 'READY';
    // Not fsync'd: a crash of ucri alone finds READY; a power loss that drops it leaves SETTING_UP, which
    // recovery reports not ready (the reboot ended the namespaces anyway) and a stop tears down through the
    // CNI checkpoint, durable on its own. The CRI layer's `ready` record, fsync'd, follows.
    await savePod(e.paths, rec, { durable: false });
    crashPoint('RunPodSandbox', 'ready');
    undo.commit();
    armInfraWatcher(e, pod);
    return pod;
  } catch (err) {
    await undo.run({ podId: spec.id });
    e.pods.delete(spec.id);
    throw fromAbort(err, signal);
  }
}

/** Which namespaces a pod pins: none under the posix launcher, none for host (NODE) modes. */
function pinnedKinds(e: Engine, spec: PodSpec): PinnedKind[] {
  if (e.launcher.name !== 'linux') return [];
  const kinds: PinnedKind[] = [];
  // A host-network pod shares the host's UTS namespace too (its hostname is the node's), as kubelet expects.
  if (spec.namespaces.network === 'pod') kinds.push('net', 'uts');
  if (spec.namespaces.ipc === 'pod') kinds.push('ipc');
  return kinds;
}

/** teardownPod (and with `cleanup`, cleanupPod) of `isolators` in reverse order, all tried. */
async function teardownIsolators(
  e: Engine,
  ctx: PodContext,
  isolators: typeof e.isolators,
  signal: AbortSignal,
  cleanup: boolean,
): Promise<void> {
  const rev = [...isolators].reverse();
  await allSteps(rev.map((iso) => async () => iso.teardownPod?.(ctx, signal)));
  if (cleanup) await allSteps(rev.map((iso) => async () => iso.cleanupPod?.(ctx)));
}

/**
 * Stops every container of the pod (SIGKILL: kubelet has already given them their grace period), releases
 * the network (teardownPod in reverse, CNI DEL) and stops the infra process. Keeps the records; idempotent.
 * STOPPING is durable before the first of these, so a crash in the middle is finished by recovery.
 */
export async function stopPod(e: Engine, pod: Pod, signal: AbortSignal): Promise<void> {
  if (pod.rec.phase !== 'STOPPED') {
    // Set before any await: createContainer refuses a pod that is not READY.
    pod.rec.phase = 'STOPPING';
    await savePod(e.paths, pod.rec);
    crashPoint('StopPodSandbox', 'intent');
  }
  await Promise.all([...pod.containers].map((id) => stopContainer(e, id, 0, signal)));
  await finishStop(e, pod, signal);
}

/** The rest of a stop once the containers are gone (also recovery's, for a pod left STOPPING). */
export async function finishStop(e: Engine, pod: Pod, signal: AbortSignal): Promise<void> {
  await teardownIsolators(e, pod.context(), e.isolators, signal, false);
  crashPoint('StopPodSandbox', 'network-released');
  await stopInfra(e, pod);
  crashPoint('StopPodSandbox', 'infra-stopped');
  if (pod.rec.phase !== 'STOPPED') {
    pod.rec.phase = 'STOPPED';
    // Not fsync'd (savePod): a STOPPING record that outlives a power loss is only stopped again.
    await savePod(e.paths, pod.rec, { durable: false });
  }
  crashPoint('StopPodSandbox', 'stopped');
}

/**
 * Removes what stopPod left: containers, isolator state, infra, pins, cgroup, dirs and the record.
 *
 * With `later`, the pod is stopped first as without (network released, processes gone), then forgotten at
 * once and released in the background under its lock, its record removed last: a crash meanwhile leaves an
 * orphan pod that recovery destroys through the same steps (the caller having dropped its own record). A
 * release that fails is logged and done again by removePod without `later`, or at the next start.
 */
export async function removePod(e: Engine, pod: Pod, signal: AbortSignal, opts: { later?: boolean } = {}) {
  if (pod.rec.phase !== 'STOPPED') await stopPod(e, pod, signal);
  if (!opts.later) {
    await releasePod(e, pod);
    forgetPod(e, pod);
    return;
  }
  forgetPod(e, pod);
  const done = e.lock
    .run(pod.id, () => releasePod(e, pod))
    .then(
      () => {
        e.releasingPods.delete(pod.id);
        return true;
      },
      (err: unknown) => {
        log.error({ podId: pod.id, err: errorMessage(err) }, 'releasing a removed pod sandbox failed');
        return false;
      },
    );
  e.releasingPods.set(pod.id, { pod, done });
}

function forgetPod(e: Engine, pod: Pod): void {
  e.pods.delete(pod.id);
  pod.markRemoved(new NotFoundError(`pod sandbox "${pod.id}" was removed`));
}

/** Waits for the background release of pod `id`, if one was started, and redoes it if it failed (then throws). */
export async function finishPodRelease(e: Engine, id: string): Promise<void> {
  const r = e.releasingPods.get(id);
  // Awaited outside the pod's lock: the release itself waits for that lock.
  if (!r || (await r.done)) return;
  await e.lock.run(id, async () => {
    if (e.releasingPods.get(id) !== r) return;
    await releasePod(e, r.pod);
    e.releasingPods.delete(id);
  });
}

/** Waits until every background pod release has ended (daemon shutdown). */
export async function drainPodReleases(e: Engine): Promise<void> {
  await Promise.all([...e.releasingPods.values()].map((r) => r.done));
}

/** Everything of a stopped pod: its containers, isolator state, infra, pins, cgroup, dirs, the record last. */
async function releasePod(e: Engine, pod: Pod): Promise<void> {
  for (const id of [...pod.containers]) await removeContainer(e, id);
  const ctx = pod.context();
  await allSteps([
    () =>
      costOf('step isolators cleanupPod', () =>
        teardownIsolators(e, ctx, e.isolators, AbortSignal.timeout(60_000), true),
      ),
    () => costOf('step infra destroy', () => e.launcher.destroy(infraId(pod.id))),
    async () => crashPoint('RemovePodSandbox', 'network-released'),
    () => costOf('step pins', () => removePinnedNamespaces(e.paths.pinRoot, pod.id, AbortSignal.timeout(30_000))),
    () => costOf('step pod cgroup', () => destroyOwnedCgroup(e, pod.rec.state.cgroup)),
    () => costOf('step pod runtime dir', () => removePodRuntimeDir(e, pod.id)),
    () => costOf('step rm pod record', () => removeTree(e.paths.podRecordDir(pod.id))),
  ]);
  crashPoint('RemovePodSandbox', 'pod-removed');
}

/** The pod's runtime facts for CRI status. */
export function podRuntime(pod: Pod): PodRuntime {
  const s = pod.rec.state;
  return {
    netnsPath: s.netns ?? '',
    ips: [...s.ips],
    cgroup: s.cgroup,
    ready: pod.ready,
    info: {
      mesosState: pod.rec.phase,
      infraExit: pod.rec.infraExit,
      runtimeDir: s.dir,
      namespaces: { net: s.netns ?? 'host', ipc: s.ipcns ?? 'host', uts: s.utsns ?? 'host' },
      infraPid: s.infraPid,
      containers: [...pod.containers],
    },
  };
}

/**
 * Unmounts the pins dir's private self-bind when no pod has pins (daemon shutdown): a daemon stopped with no
 * pods leaves no mount behind. The next pod or start-up makes it again (ensurePinRoot is idempotent).
 */
export async function releasePinRootIfUnused(e: Engine): Promise<void> {
  if ((await listPinnedIds(e.paths.pinRoot)).length > 0) return;
  if (await isMountPoint(e.paths.pinRoot)) await unmount(e.paths.pinRoot, { lazy: true });
}

/** Removes a cgroup only when it lies under ucri's own cgroups root (kubelet's parents are kubelet's). */
export async function destroyOwnedCgroup(e: Engine, cgroup: string): Promise<void> {
  const root = e.cgroups.ownedRoot;
  if (root === '' || !cgroup.startsWith(`${root}/`)) return;
  await destroyCgroup(cgroup, { timeoutMs: 30_000 });
}

/** Unmounts what isolators left mounted under the pod's runtime dir (e.g. a shm tmpfs) and removes it. */
export async function removePodRuntimeDir(e: Engine, podId: string): Promise<void> {
  const dir = e.paths.podRuntimeDir(podId);
  await unmountAllUnder(dir, { lazy: true });
  await fs.rm(dir, { recursive: true, force: true });
}
