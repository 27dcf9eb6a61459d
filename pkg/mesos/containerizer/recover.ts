/**
 * Recovery at start-up (Mesos `MesosContainerizer::recover`, ARCHITECTURE decision 5):
 *
 *   1. load pod and container records from the work dir;
 *   2. records the caller does not know are orphans, and so is a container record without its provisioner
 *      record (a create a power loss interrupted): torn down through the same steps as a removal
 *      (launcher destroy, isolators cleanup / teardownPod / cleanupPod, provisioner destroy, pins, dirs);
 *   3. isolators and the provisioner recover with the known ones (and drop their own orphans);
 *   4. each known container is settled: its conmon or init alive (pid + start time) → running, exit watcher
 *      re-armed; an exit file → exited with that code (finishedAt = the file's mtime); a start interrupted by
 *      the crash (record ISOLATING, launched or not) → its runtime container and conmon are
 *      deleted and it is created again; nothing → lost; then each known pod: a stop interrupted by the
 *      crash (STOPPING) is finished (CNI DEL, infra stop); a READY pod's infra is checked (pid + start time)
 *      and watched again, or the pod is marked lost;
 *   5. leftovers with no record are swept: runtime containers in our --root, namespace pins, runtime dirs,
 *      exit files, cgroups under our cgroups root.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ContainerSpec, PodSpec, RecoveredContainer } from '../../containerizer/index.js';
import {
  destroyCgroup,
  ensurePinRoot,
  isAlive,
  isPinned,
  listChildCgroups,
  listPinnedIds,
  removePinnedNamespaces,
  markTopDir,
} from '../../sys/index.js';
import { allSteps, errorMessage, removeStaleTemps } from '../../util/index.js';
import { destroyOwnedCgroup, removePodRuntimeDir, stopPod } from './pod.js';
import { infraId } from '../paths.js';
import { armExitWatcher, destroyContainer, recordExit } from './containers.js';
import type { Engine } from './engine.js';
import { log } from './engine.js';
import { recoverInfra } from './infra.js';
import { Container, Pod, saveContainer } from './records.js';
import { loadRecords } from './records.js';
import { containerRuntimeOf } from './status.js';

const LOST_MESSAGE = 'the container process and its monitor are gone and left no exit status';

export async function recover(
  e: Engine,
  known: { pods: PodSpec[]; containers: ContainerSpec[] },
): Promise<RecoveredContainer[]> {
  for (const d of [e.paths.podRecordsDir, e.paths.podRuntimeDirs]) await fs.mkdir(d, { recursive: true, mode: 0o711 });
  // Each pod's record and runtime dirs a block group of their own on ext2/3/4 (pkg/sys markTopDir).
  await Promise.all([markTopDir(e.paths.podRecordsDir), markTopDir(e.paths.podRuntimeDirs)]);
  await ensurePinRoot(e.paths.pinRoot);
  const knownPods = new Set(known.pods.map((p) => p.id));
  const knownContainers = new Set(known.containers.map((c) => c.id));
  const { pods, containers, broken } = await loadRecords(e.paths);

  const orphanPods = new Map<string, Pod>();
  for (const rec of pods) {
    const pod = new Pod(rec);
    if (knownPods.has(rec.spec.id)) e.pods.set(rec.spec.id, pod);
    else orphanPods.set(rec.spec.id, pod);
  }
  const orphans: Container[] = [];
  for (const rec of containers) {
    const pod = e.pods.get(rec.spec.podId) ?? orphanPods.get(rec.spec.podId);
    if (!pod) continue;
    const c = new Container(rec, pod, e.paths.bundle(pod.id, rec.spec.id));
    pod.containers.add(c.id);
    if (!knownContainers.has(c.id) || !e.pods.has(pod.id)) {
      orphans.push(c);
    } else if (!(await e.provisioner.get(c.id))) {
      // The create's last step makes this record and the provisioner's durable together (containers.ts): a
      // power loss that kept only this one interrupted a create, and the caller, told `lost`, rolls it back.
      log.warn({ id: c.id }, 'recovery: container record without its provisioner record: destroyed as unfinished');
      orphans.push(c);
    } else {
      e.containers.set(c.id, c);
    }
  }

  // 2. Orphans with records: their saved state (CNI results, cgroups) tells what to release.
  for (const c of orphans) {
    log.info({ id: c.id }, 'destroying orphan container');
    await destroyContainer(e, c).catch((err: unknown) => warn('orphan container', c.id, err));
    c.pod.containers.delete(c.id);
  }
  for (const pod of orphanPods.values()) {
    log.info({ podId: pod.id }, 'destroying orphan pod');
    await destroyOrphanPod(e, pod).catch((err: unknown) => warn('orphan pod', pod.id, err));
  }
  for (const b of broken) {
    await fs.rm(`${e.paths.podRecordsDir}/${b}`, { recursive: true, force: true }).catch(() => {});
  }

  // 3. The isolators and the provisioner adopt what is known.
  const podCtxs = [...e.pods.values()].map((p) => p.context());
  const ctrCtxs = [...e.containers.values()].map((c) => c.context());
  for (const iso of e.isolators) {
    await iso.recover?.(podCtxs, ctrCtxs).catch((err: unknown) => warn(`isolator ${iso.name} recover`, '', err));
  }
  // A container that was never started (or whose start this recovery undoes) has its rootfs mounted by its
  // next start (provisioner.mount), not now: mounted or not, it is left as it is.
  const unstarted = [...e.containers.values()]
    .filter((c) => !c.rec.termination && (c.rec.state === 'PREPARING' || c.rec.state === 'ISOLATING'))
    .map((c) => c.id);
  await e.provisioner.recover([...e.containers.keys()], { unmounted: unstarted });

  // 4. Settle every known container.
  const out: RecoveredContainer[] = [];
  for (const spec of known.containers) {
    const c = e.containers.get(spec.id);
    out.push(c ? await settle(e, c) : { id: spec.id, state: 'lost' });
  }
  for (const pod of e.pods.values()) await checkPod(e, pod);

  // 5. Leftovers without any record.
  await sweep(e);
  return out;
}

function warn(what: string, id: string, err: unknown): void {
  log.warn({ id, err: errorMessage(err) }, `recovery: ${what} failed`);
}

async function settle(e: Engine, c: Container): Promise<RecoveredContainer> {
  const rec = c.rec;
  const launched = rec.launched;
  if (rec.termination || (rec.state === 'TERMINATED' && !launched)) {
    rec.state = 'TERMINATED';
    return { id: c.id, state: 'exited', runtime: containerRuntimeOf(e, c) };
  }
  if (!launched || (rec.state !== 'RUNNING' && rec.state !== 'TERMINATED')) {
    if (launched || rec.state === 'ISOLATING') {
      // ucri died during the start: the client never heard of a running container, so the start is undone.
      log.info({ id: c.id }, 'recovery: start interrupted, container back to created');
      await undoInterruptedStart(e, c).catch((err: unknown) => warn('interrupted start', c.id, err));
    } else {
      // The start intent is not fsync'd (containers.ts): with a runtime dir that is not a tmpfs, a power loss
      // can drop it yet keep runc's state of the interrupted start. Deleting what is not there costs a stat.
      await undoInterruptedStart(e, c).catch((err: unknown) => warn('stale runtime container', c.id, err));
    }
    rec.state = 'PREPARING';
    rec.launched = undefined;
    rec.startedAt = 0n;
    await saveContainer(e.paths, rec);
    return { id: c.id, state: 'created', runtime: containerRuntimeOf(e, c) };
  }
  const code = await e.launcher.readExit(c.id);
  if (code === undefined && (await e.launcher.alive(launched))) {
    rec.state = 'RUNNING';
    armExitWatcher(e, c);
    return { id: c.id, state: 'running', runtime: containerRuntimeOf(e, c) };
  }
  if (code !== undefined) {
    await recordExit(e, c, code, '');
    return { id: c.id, state: 'exited', runtime: containerRuntimeOf(e, c) };
  }
  await recordExit(e, c, 137, LOST_MESSAGE);
  return { id: c.id, state: 'lost', wasCreated: true };
}

/**
 * Deletes the runtime container of a start that a crash interrupted, whether or not its launch was recorded.
 * conmon may still be running `runc create` (it outlives ucri), so the delete is repeated until conmon,
 * found through its pidfile in the bundle, has gone too; a conmon that stays is killed.
 */
async function undoInterruptedStart(e: Engine, c: Container): Promise<void> {
  const launched = c.rec.launched;
  let conmon = launched?.monitorPid ?? 0;
  let start: bigint | undefined =
    launched && launched.monitorStartTime > 0 ? BigInt(launched.monitorStartTime) : undefined;
  if (conmon <= 0) {
    conmon = Number((await fs.readFile(path.join(c.bundle, 'conmon.pid'), 'utf8').catch(() => '')).trim()) || 0;
    // Only a process whose command line names this bundle is this container's conmon.
    const cmd = conmon > 0 ? await fs.readFile(`/proc/${conmon}/cmdline`, 'utf8').catch(() => '') : '';
    if (!cmd.includes(c.bundle)) conmon = 0;
    start = undefined;
  }
  const until = Date.now() + 10_000;
  for (;;) {
    await e.launcher.destroy(c.id);
    if (conmon <= 0 || !(await isAlive(conmon, start))) break;
    if (Date.now() >= until) {
      log.warn({ id: c.id, pid: conmon }, 'recovery: conmon of an interrupted start still runs: killing it');
      try {
        process.kill(conmon, 'SIGKILL');
      } catch {
        // already gone
      }
      await e.launcher.destroy(c.id);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Brings a known pod to a settled state: a stop the crash interrupted is finished, a READY pod's infra is
 * verified and watched again (or the pod marked lost); the rest is logged.
 */
async function checkPod(e: Engine, pod: Pod): Promise<void> {
  const s = pod.rec.state;
  if (pod.rec.phase === 'STOPPING') {
    log.info({ podId: pod.id }, 'recovery: finishing a pod stop interrupted by the crash');
    await stopPod(e, pod, AbortSignal.timeout(120_000)).catch((err: unknown) => warn('interrupted stop', pod.id, err));
    return;
  }
  if (s.netns && !(await isPinned(s.netns))) log.warn({ podId: pod.id }, 'recovery: the pod network namespace is gone');
  if (pod.rec.phase === 'SETTING_UP') log.warn({ podId: pod.id }, 'recovery: pod set-up was interrupted');
  await recoverInfra(e, pod).catch((err: unknown) => warn('infra', pod.id, err));
}

async function destroyOrphanPod(e: Engine, pod: Pod): Promise<void> {
  const ctx = pod.context();
  const rev = [...e.isolators].reverse();
  const signal = AbortSignal.timeout(60_000);
  await allSteps([
    ...rev.map((iso) => async () => iso.teardownPod?.(ctx, signal)),
    ...rev.map((iso) => async () => iso.cleanupPod?.(ctx)),
    () => e.launcher.destroy(infraId(pod.id)),
    () => removePinnedNamespaces(e.paths.pinRoot, pod.id),
    () => destroyOwnedCgroup(e, pod.rec.state.cgroup),
    () => removePodRuntimeDir(e, pod.id),
    () => fs.rm(e.paths.podRecordDir(pod.id), { recursive: true, force: true }),
  ]);
}

async function sweep(e: Engine): Promise<void> {
  const ids = new Set<string>([...e.containers.keys()]);
  for (const p of e.pods.values()) ids.add(infraId(p.id));
  for (const id of await e.launcher.list().catch(() => [] as string[])) {
    if (ids.has(id)) continue;
    log.info({ id }, 'recovery: deleting orphan runtime container');
    await e.launcher.destroy(id).catch((err: unknown) => warn('orphan runtime container', id, err));
  }
  for (const id of await listPinnedIds(e.paths.pinRoot)) {
    if (!e.pods.has(id)) await removePinnedNamespaces(e.paths.pinRoot, id).catch((err) => warn('orphan pins', id, err));
  }
  for (const name of await dirNames(e.paths.podRuntimeDirs)) {
    const pod = e.pods.get(name);
    if (!pod) {
      await removePodRuntimeDir(e, name).catch((err: unknown) => warn('orphan runtime dir', name, err));
      continue;
    }
    for (const cid of await dirNames(e.paths.bundlesDir(name))) {
      if (!e.containers.has(cid)) await fs.rm(e.paths.bundle(name, cid), { recursive: true, force: true });
    }
  }
  for (const name of await dirNames(e.paths.exitDir, false)) {
    if (!ids.has(name)) await fs.rm(e.paths.exitFile(name), { force: true }).catch(() => {});
  }
  await removeStaleTemps(e.paths.exitDir);
  const root = e.cgroups.ownedRoot;
  if (root !== '') {
    const owned = new Set([...e.pods.values()].map((p) => p.rec.state.cgroup));
    for (const child of await listChildCgroups(root).catch(() => [] as string[])) {
      const cg = `${root}/${child}`;
      if (owned.has(cg)) continue;
      log.info({ cgroup: cg }, 'recovery: destroying orphan cgroup');
      await destroyCgroup(cg, { timeoutMs: 30_000 }).catch((err: unknown) => warn('orphan cgroup', cg, err));
    }
  }
}

async function dirNames(dir: string, dirsOnly = true): Promise<string[]> {
  try {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    return entries
      .filter((d) => (dirsOnly ? d.isDirectory() : d.isFile()) && !d.name.includes('.tmp-'))
      .map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
