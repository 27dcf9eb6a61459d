/**
 * Pod sandboxes as Mesos parent containers without a process (ARCHITECTURE decision 2): the pod's network,
 * IPC and UTS namespaces are created and pinned by bind mounts (pkg/sys createPinnedNamespaces), host ones
 * (NODE modes) are simply not pinned, and the isolators' setupPod hooks make the pod cgroup and attach the
 * network (CNI ADD). Only a pod that asks for a shared PID namespace gets a process: the infra container, a
 * busybox shell under conmon that creates the pid namespace, joins the pinned ones and reaps orphans. There
 * is no pause image offline, so its rootfs is built once from the host's busybox-static.
 *
 *   runPod:    pins ─► checkpoint (SETTING_UP) ─► setupPod in table order (cgroup, CNI ADD) ─► infra ─► READY
 *   stopPod:   containers SIGKILLed ─► teardownPod in reverse (CNI DEL) ─► infra stopped ─► STOPPED
 *   removePod: containers removed ─► cleanupPod in reverse ─► infra deleted ─► pins, cgroup, dirs removed
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { PodRuntime, PodSpec } from '../../containerizer/index.js';
import { defaultSpec, fitSpecToHost, type LinuxNamespace } from '../../oci/index.js';
import {
  createPinnedNamespaces,
  destroyCgroup,
  ensurePinRoot,
  type NamespacePins,
  type PinnedKind,
  removePinnedNamespaces,
  unmountAllUnder,
} from '../../sys/index.js';
import {
  AlreadyExistsError,
  errorMessage,
  FailedPreconditionError,
  fromAbort,
  isKind,
  UnavailableError,
} from '../../util/index.js';
import { removeContainer, stopContainer } from './containers.js';
import { type Engine, log } from './engine.js';
import { nowNs, Pod, type PodRecord, RECORD_VERSION, savePod } from './records.js';
import { allSteps, Rollback } from './rollback.js';
import type { Isolator, PodContext, PodState } from '../isolator.js';
import type { Launched } from '../launcher/types.js';
import { infraId } from '../paths.js';

/** The host's static busybox, the only program the infra rootfs holds. */
export const HOST_BUSYBOX = '/bin/busybox';
/** Reaps re-parented children and sleeps; exits 0 on SIGTERM (pid 1 of a pid ns ignores unhandled signals). */
const INFRA_SCRIPT = 'trap "exit 0" TERM; while :; do sleep 3600 & wait; done';

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
      await ensurePinRoot(e.paths.pinRoot, signal);
      const pins: NamespacePins = await createPinnedNamespaces(e.paths.pinRoot, spec.id, {
        kinds,
        hostname: kinds.includes('uts') && spec.hostname !== '' ? spec.hostname : undefined,
        signal,
      });
      undo.add('namespace pins', (s) => removePinnedNamespaces(e.paths.pinRoot, spec.id, s));
      state.netns = pins.net;
      state.ipcns = pins.ipc;
      state.utsns = pins.uts;
    }
    // The record (with the netns path) is durable before CNI ADD, so a crash there is torn down at recovery.
    await savePod(e.paths, rec);

    const ctx = pod.context();
    const setUp: Isolator[] = [];
    undo.add('isolators setupPod', () => teardownIsolators(e, ctx, setUp, AbortSignal.timeout(60_000), true));
    for (const iso of e.isolators) {
      if (!iso.setupPod) continue;
      setUp.push(iso);
      await iso.setupPod(ctx, signal);
    }

    if (spec.namespaces.pid === 'pod' && e.launcher.name === 'linux') {
      rec.infra = await startInfra(e, spec, state, signal);
      undo.add('infra container', () => e.launcher.destroy(infraId(spec.id)));
    }
    rec.phase = 'READY';
    await savePod(e.paths, rec);
    undo.commit();
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
 */
export async function stopPod(e: Engine, pod: Pod, signal: AbortSignal): Promise<void> {
  // Set before any await: createContainer refuses a pod that is not READY.
  if (pod.rec.phase !== 'STOPPED') pod.rec.phase = 'STOPPED';
  await Promise.all([...pod.containers].map((id) => stopContainer(e, id, 0, signal)));
  await teardownIsolators(e, pod.context(), e.isolators, signal, false);
  if (pod.rec.infra) await stopInfra(e, pod.id, pod.rec.infra);
  await savePod(e.paths, pod.rec);
}

/** Removes what stopPod left: containers, isolator state, infra, pins, cgroup, dirs and the record. */
export async function removePod(e: Engine, pod: Pod, signal: AbortSignal): Promise<void> {
  if (pod.rec.phase !== 'STOPPED') await stopPod(e, pod, signal);
  for (const id of [...pod.containers]) await removeContainer(e, id);
  const ctx = pod.context();
  await allSteps([
    () => teardownIsolators(e, ctx, e.isolators, AbortSignal.timeout(60_000), true),
    () => e.launcher.destroy(infraId(pod.id)),
    () => removePinnedNamespaces(e.paths.pinRoot, pod.id, AbortSignal.timeout(30_000)),
    () => destroyOwnedCgroup(e, pod.rec.state.cgroup),
    () => removePodRuntimeDir(e, pod.id),
    () => fs.rm(e.paths.podRecordDir(pod.id), { recursive: true, force: true }),
  ]);
  e.pods.delete(pod.id);
}

/** The pod's runtime facts for CRI status. */
export function podRuntime(pod: Pod): PodRuntime {
  const s = pod.rec.state;
  return {
    netnsPath: s.netns ?? '',
    ips: [...s.ips],
    cgroup: s.cgroup,
    info: {
      mesosState: pod.rec.phase,
      runtimeDir: s.dir,
      namespaces: { net: s.netns ?? 'host', ipc: s.ipcns ?? 'host', uts: s.utsns ?? 'host' },
      infraPid: s.infraPid,
      containers: [...pod.containers],
    },
  };
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

/** Builds the infra rootfs once (atomically: a half-built one is never used). */
async function ensureInfraRootfs(e: Engine): Promise<string> {
  const root = e.paths.infraRootfs;
  try {
    await fs.access(path.join(root, 'bin', 'busybox'));
    return root;
  } catch {
    // build it
  }
  try {
    await fs.access(HOST_BUSYBOX, fs.constants.X_OK);
  } catch (err) {
    throw new UnavailableError(
      `a shared pid namespace needs ${HOST_BUSYBOX} (Debian busybox-static) for the infra process`,
      { cause: err },
    );
  }
  const tmp = `${root}.tmp-${process.pid}-${Date.now()}`;
  try {
    for (const d of ['bin', 'proc', 'dev', 'sys', 'etc', 'tmp']) await fs.mkdir(path.join(tmp, d), { recursive: true });
    await fs.copyFile(HOST_BUSYBOX, path.join(tmp, 'bin', 'busybox'));
    await fs.chmod(path.join(tmp, 'bin', 'busybox'), 0o755);
    for (const a of ['sh', 'sleep']) await fs.symlink('busybox', path.join(tmp, 'bin', a));
    await fs.rename(tmp, root);
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    // Another pod built it at the same time.
    if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw err;
    }
  }
  return root;
}

/** Starts the infra container: new pid ns, joins the pod's pinned namespaces, in the pod cgroup. */
async function startInfra(e: Engine, spec: PodSpec, state: PodState, signal: AbortSignal): Promise<Launched> {
  const rootfs = await ensureInfraRootfs(e);
  const id = infraId(spec.id);
  const namespaces: LinuxNamespace[] = [{ type: 'pid' }, { type: 'mount' }];
  if (state.netns) namespaces.push({ type: 'network', path: state.netns });
  if (state.ipcns) namespaces.push({ type: 'ipc', path: state.ipcns });
  if (state.utsns) namespaces.push({ type: 'uts', path: state.utsns });
  const oci = defaultSpec({
    rootfs,
    args: ['/bin/sh', '-c', INFRA_SCRIPT],
    namespaces,
    cgroupsPath: e.cgroups.ociPath(`${state.cgroup}/${id}`),
  });
  oci.root = { path: rootfs, readonly: true };
  // It needs no privilege at all: it only sleeps and reaps.
  oci.process!.capabilities = { bounding: [], effective: [], permitted: [] };
  oci.process!.noNewPrivileges = true;
  await fitSpecToHost(oci);
  const bundle = e.paths.infraBundle(spec.id);
  const launched = await e.launcher.create(
    { id, bundle, spec: oci, logPath: '/dev/null', tty: false, stdin: false, stdinOnce: false },
    signal,
  );
  try {
    await e.launcher.start(id);
  } catch (err) {
    await e.launcher.destroy(id).catch(() => {});
    throw err;
  }
  state.infraPid = launched.pid;
  return launched;
}

/** SIGTERM, a short grace, then SIGKILL; returns once the infra process is gone. Idempotent. */
async function stopInfra(e: Engine, podId: string, launched: Launched): Promise<void> {
  const id = infraId(podId);
  if (!(await e.launcher.alive(launched))) return;
  const waitFor = async (ms: number): Promise<boolean> => {
    try {
      await e.launcher.waitExit(id, launched, AbortSignal.timeout(ms));
      return true;
    } catch (err) {
      if (isKind(err, 'DeadlineExceeded') || isKind(err, 'Cancelled')) return false;
      return !(await e.launcher.alive(launched));
    }
  };
  await e.launcher.kill(id, 'SIGTERM').catch(() => {});
  if (await waitFor(e.infraStopGraceMs)) return;
  await e.launcher.kill(id, 'SIGKILL', true).catch(() => {});
  if (!(await waitFor(30_000))) log.warn({ podId, err: errorMessage('still alive') }, 'infra survived SIGKILL');
}
