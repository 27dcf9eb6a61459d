/**
 * The infra container of a pod with a shared PID namespace: a busybox shell under conmon (like every
 * container) that creates the pid namespace, joins the pod's pinned ones and reaps orphans. There is no pause
 * image offline, so its rootfs is built once from the host's busybox-static.
 *
 * Two guarantees make it safe (issue: a dead infra's pid reused by a host process must never be joined):
 * - its pid namespace is pinned by a bind mount (`<pins>/<pod>/pid`) right after `runc create`, while the
 *   process is blocked and verified by its start time; containers join the pin, never `/proc/<pid>/ns/pid`;
 * - its exit is watched through conmon's exit file like a container's, from the start and again after a
 *   restart, so its death makes the pod not ready at once (Pod.lost; the CRI reports SANDBOX_NOTREADY).
 *   A pin whose namespace lost its init cannot be entered by a new process (fork fails in it), so a late
 *   create fails cleanly instead of joining anything else.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { PodSpec } from '../../containerizer/index.js';
import { defaultSpec, fitSpecToHost, type LinuxNamespace } from '../../oci/index.js';
import { ensurePinRoot, isAlive, isPinned, nativeHelper, pinProcessNamespace } from '../../sys/index.js';
import { crashPoint, errorMessage, isKind, UnavailableError } from '../../util/index.js';
import type { PodState } from '../isolator.js';
import type { Launched } from '../launcher/types.js';
import { infraId } from '../paths.js';
import { type Engine, log } from './engine.js';
import { type Pod, savePod } from './records.js';

/** The host's static busybox, the only program the infra rootfs holds. */
export const HOST_BUSYBOX = '/bin/busybox';
/**
 * Fallback when native/pause is not built: reaps re-parented children and sleeps; exits 0 on SIGTERM (pid 1 of
 * a pid ns ignores unhandled signals). Its `sleep` child is visible to every container of the pod, which is why
 * the static native pause (no children at all) is preferred.
 */
const INFRA_SCRIPT = 'trap "exit 0" TERM; while :; do sleep 3600 & wait; done';

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
    const pause = nativeHelper('pause');
    if (pause) await fs.copyFile(pause, path.join(tmp, 'bin', 'pause'));
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

/**
 * Starts the infra container (new pid ns, the pod's pinned namespaces, the pod cgroup) and pins its pid
 * namespace into `state.pidns`. On failure the runtime container is destroyed (the pin goes with the pod's).
 */
export async function startInfra(e: Engine, spec: PodSpec, state: PodState, signal: AbortSignal): Promise<Launched> {
  const rootfs = await ensureInfraRootfs(e);
  // A rootfs built by an older ucri (or without the helper) has no pause: the shell loop then stands in.
  const hasPause = await fs.access(path.join(rootfs, 'bin', 'pause')).then(
    () => true,
    () => false,
  );
  const id = infraId(spec.id);
  const namespaces: LinuxNamespace[] = [{ type: 'pid' }, { type: 'mount' }];
  if (state.netns) namespaces.push({ type: 'network', path: state.netns });
  if (state.ipcns) namespaces.push({ type: 'ipc', path: state.ipcns });
  if (state.utsns) namespaces.push({ type: 'uts', path: state.utsns });
  const oci = defaultSpec({
    rootfs,
    args: hasPause ? ['/bin/pause'] : ['/bin/sh', '-c', INFRA_SCRIPT],
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
    crashPoint('RunPodSandbox', 'infra-created');
    // Blocked in `runc create`, the init cannot have exited: its pid is still its own. Pinned now.
    await ensurePinRoot(e.paths.pinRoot, signal);
    state.pidns = await pinProcessNamespace(
      e.paths.pinRoot,
      spec.id,
      'pid',
      launched.pid,
      BigInt(launched.pidStartTime),
      signal,
    );
    await e.launcher.start(id);
    crashPoint('RunPodSandbox', 'infra-started');
  } catch (err) {
    await e.launcher.destroy(id).catch(() => {});
    throw err;
  }
  state.infraPid = launched.pid;
  return launched;
}

/** SIGTERM, a short grace, then SIGKILL; returns once the infra process is gone. Idempotent. */
export async function stopInfra(e: Engine, pod: Pod): Promise<void> {
  const launched = pod.rec.infra;
  if (!launched) return;
  pod.infraWatcher?.abort();
  pod.infraWatcher = undefined;
  const id = infraId(pod.id);
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
  if (!(await waitFor(30_000))) log.warn({ podId: pod.id, err: errorMessage('still alive') }, 'infra survived SIGKILL');
}

/**
 * Watches the infra process of a READY pod: when it ends, the pod is checkpointed as lost (`infraExit`) and
 * `pod.lost` resolves. A conmon that died without an exit status counts as the infra's death too.
 */
export function armInfraWatcher(e: Engine, pod: Pod): void {
  const launched = pod.rec.infra;
  if (!launched || !pod.ready) return;
  pod.infraWatcher?.abort();
  const ac = new AbortController();
  pod.infraWatcher = ac;
  const id = infraId(pod.id);
  e.launcher.waitExit(id, launched, ac.signal).then(
    (code) => infraDied(e, pod, ac, code),
    (err: unknown) => {
      if (ac.signal.aborted) return;
      log.warn({ podId: pod.id, err: errorMessage(err) }, 'infra monitor gone without an exit status');
      return infraDied(e, pod, ac, 137);
    },
  );
}

async function infraDied(e: Engine, pod: Pod, ac: AbortController, code: number): Promise<void> {
  if (ac.signal.aborted || !pod.ready || e.pods.get(pod.id) !== pod) return;
  pod.infraWatcher = undefined;
  await markInfraDead(e, pod, code);
}

/** Checkpoints that the infra is gone and wakes whoever waits for the pod to be lost. */
export async function markInfraDead(e: Engine, pod: Pod, code: number): Promise<void> {
  log.warn({ podId: pod.id, exitCode: code }, 'the infra process holding the pod pid namespace died: pod not ready');
  pod.rec.infraExit = code;
  await savePod(e.paths, pod.rec).catch((err: unknown) =>
    log.warn({ podId: pod.id, err: errorMessage(err) }, 'cannot checkpoint the infra exit'),
  );
  pod.markLost(`the infra process of pod sandbox "${pod.id}" exited with code ${code}`);
}

/**
 * Recovery of a READY pod's infra: alive (pid + start time) → its pid pin is checked (made from the
 * verified process if a record from before pins lacks it) and the watcher re-armed; gone → the pod is lost.
 */
export async function recoverInfra(e: Engine, pod: Pod): Promise<void> {
  const launched = pod.rec.infra;
  if (!launched || !pod.ready) return;
  const s = pod.rec.state;
  // Without a start time the pid cannot be told from a reused one: treated as gone.
  const initAlive = launched.pidStartTime > 0 && (await isAlive(launched.pid, BigInt(launched.pidStartTime)));
  if (!initAlive || (await e.launcher.readExit(infraId(pod.id))) !== undefined) {
    const code = (await e.launcher.readExit(infraId(pod.id)).catch(() => undefined)) ?? 137;
    await markInfraDead(e, pod, code);
    return;
  }
  if (!s.pidns || !(await isPinned(s.pidns))) {
    try {
      await ensurePinRoot(e.paths.pinRoot);
      s.pidns = await pinProcessNamespace(e.paths.pinRoot, pod.id, 'pid', launched.pid, BigInt(launched.pidStartTime));
      await savePod(e.paths, pod.rec);
    } catch (err) {
      log.warn({ podId: pod.id, err: errorMessage(err) }, 'recovery: cannot pin the infra pid namespace');
      await markInfraDead(e, pod, 137);
      return;
    }
  }
  armInfraWatcher(e, pod);
}
