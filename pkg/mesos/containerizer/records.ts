/**
 * The containerizer's records of pods and containers, in memory and checkpointed (paths.ts draws where).
 *
 * Container states (Mesos `MesosContainerizer` states; `ContainerRuntime.mesosState`):
 *
 *   createContainer:  PROVISIONING ──► PREPARING ─────────────────────┐  (CRI "created": record
 *                     (provisioner,    (isolators prepare, buildSpec) │   checkpointed, no process)
 *                     rootfs unmounted)                               ▼
 *   startContainer:   ISOLATING ──────► RUNNING ──(exit)──► TERMINATED  (CRI "exited")
 *                     (rootfs mounted,  (runc start,
 *                     runc create,       exit watcher armed)
 *                     isolate(pid))
 *
 *   removeContainer:  any ──► DESTROYING ──► (gone: launcher, isolators, provisioner, dirs released)
 *
 * Mesos's FETCHING (fetch the task's URIs) has no CRI counterpart and is not a state here; it was never
 * checkpointed, and recovery turns any state other than RUNNING/TERMINATED back into PREPARING.
 *
 * A failed start rolls back to PREPARING (the container is "created" again, nothing runs). A failed
 * destroy leaves the container in DESTROYING; removing it again retries every step (all are idempotent).
 *
 * Pod phases: SETTING_UP (checkpointed before the network is set up, so a crash leaves a record that
 * recovery can tear down) ──► READY ──(stopPod)──► STOPPING ──► STOPPED ──(removePod)──► gone.
 * STOPPING is checkpointed before any teardown, so recovery finishes a stop that a crash interrupted (CNI DEL,
 * infra stop) instead of reporting a ready pod whose address is already released. A READY pod whose infra
 * process died (`infraExit` set) is no longer ready: it can run no container, and the CRI reports it NOTREADY.
 * SETTING_UP and STOPPING, the intents, are fsync'd; READY and STOPPED are only renamed into place (a power
 * loss that drops them leaves the intent before them, which recovery handles as after a crash).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ContainerSpec, ImageConfig, PodSpec, Termination } from '../../containerizer/index.js';
import type { Spec } from '../../oci/index.js';
import { logger, readJson, writeJsonAtomic, writeJsonReplaceSync, writeNewJsonDurable } from '../../util/index.js';
import type { ContainerContext, PodContext, PodState } from '../isolator.js';
import type { Launched } from '../launcher/types.js';
import type { MesosPaths } from '../paths.js';
import type { Provisioned } from '../provisioner/types.js';

const log = logger('mesos/records');

export type MesosState = 'PROVISIONING' | 'PREPARING' | 'ISOLATING' | 'RUNNING' | 'TERMINATED' | 'DESTROYING';

export type PodPhase = 'SETTING_UP' | 'READY' | 'STOPPING' | 'STOPPED';

const RECORD_VERSION = 1;

/** What is checkpointed of a pod. */
export interface PodRecord {
  version: number;
  spec: PodSpec;
  state: PodState;
  phase: PodPhase;
  /** The infra container's launch (pid mode `pod`), for recovery and stop. */
  infra?: Launched;
  /** The infra process's exit code once it died while the pod was READY (the pod is then not ready). */
  infraExit?: number;
  createdAt: bigint;
}

/** What is checkpointed of a container. */
export interface ContainerRecord {
  version: number;
  spec: ContainerSpec;
  state: MesosState;
  image: { config: ImageConfig; kind: 'docker' | 'appc' };
  provisioned: { rootfs: string; backend: string; writableDir?: string };
  cgroup: string;
  targetPid?: number;
  /** The OCI spec written to the bundle (kept here so a reboot that wiped the bundle loses nothing). */
  oci: Spec;
  /** Normalized stop signal from the image (`SIGQUIT`), empty for SIGTERM. */
  stopSignal: string;
  launched?: Launched;
  startedAt: bigint;
  termination?: Termination;
  /** Set (and checkpointed) right before the container is killed for crossing its disk limit. */
  diskLimitExceeded?: { bytes: number; limit: number };
  /** Resources changed while created; applied through the isolators once the cgroup exists. */
  pendingResources?: boolean;
  createdAt: bigint;
}

/** A pod in memory: its record and the ids of its containers. */
export class Pod {
  readonly containers = new Set<string>();
  /** Resolves with a reason once the pod stops being ready by itself (its infra died); rejects on removal. */
  readonly lost: Promise<string>;
  private settleLost!: { resolve: (reason: string) => void; reject: (e: unknown) => void };
  /** Stops the infra exit watcher (on stop, removal and when the containerizer is closed). */
  infraWatcher?: AbortController;

  constructor(public rec: PodRecord) {
    this.lost = new Promise<string>((resolve, reject) => {
      this.settleLost = { resolve, reject };
    });
    this.lost.catch(() => {}); // nobody may be waiting
  }
  get id(): string {
    return this.rec.spec.id;
  }
  /** READY and, with a shared pid namespace, its infra process alive: containers may be created and started. */
  get ready(): boolean {
    return this.rec.phase === 'READY' && this.rec.infraExit === undefined;
  }
  markLost(reason: string): void {
    this.settleLost.resolve(reason);
  }
  markRemoved(err: unknown): void {
    this.settleLost.reject(err);
  }
  context(): PodContext {
    return { spec: this.rec.spec, state: this.rec.state };
  }
}

/** A container in memory: its record, the pod it belongs to and the promise of its end. */
export class Container {
  /** Resolves with the termination; rejects (NotFound) when the container is removed without having run. */
  readonly exited: Promise<Termination>;
  private settle!: { resolve: (t: Termination) => void; reject: (e: unknown) => void };
  /** Stops the exit watcher (on removal and when the containerizer is closed). */
  watcher?: AbortController;
  /** Set while the exit is being recorded, so it is recorded once. */
  recording?: Promise<void>;

  constructor(
    public rec: ContainerRecord,
    readonly pod: Pod,
    readonly bundle: string,
  ) {
    this.exited = new Promise<Termination>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.exited.catch(() => {}); // nobody may be waiting
    if (rec.termination) this.settle.resolve(rec.termination);
  }
  get id(): string {
    return this.rec.spec.id;
  }
  resolveExit(t: Termination): void {
    this.settle.resolve(t);
  }
  rejectExit(err: unknown): void {
    this.settle.reject(err);
  }
  context(): ContainerContext {
    return {
      spec: this.rec.spec,
      pod: this.pod.context(),
      image: this.rec.image,
      rootfs: this.rec.provisioned.rootfs,
      dir: this.bundle,
      cgroup: this.rec.cgroup,
      targetPid: this.rec.targetPid,
    };
  }
}

/** The provisioned facts a record keeps. */
export function provisionedFacts(p: Provisioned): ContainerRecord['provisioned'] {
  return { rootfs: p.rootfs, backend: p.backend, writableDir: p.writableDir };
}

/**
 * Checkpoints a pod record. `durable: false` only renames it into place, on the event loop (writeJsonReplaceSync,
 * cheaper than the thread pool's round trips under load: docs/performance.md, "CreateContainer, phase 9"): for
 * READY and STOPPED, whose loss to a power failure leaves the durable SETTING_UP or STOPPING before them, which
 * recovery handles as after a crash (CNI DEL and infra stop are idempotent).
 */
export async function savePod(paths: MesosPaths, rec: PodRecord, opts: { durable?: boolean } = {}): Promise<void> {
  if (opts.durable === false) writeJsonReplaceSync(paths.podRecord(rec.spec.id), rec);
  else await writeJsonAtomic(paths.podRecord(rec.spec.id), rec);
}

/**
 * Checkpoints a container record. `durable: false` only renames it into place, on the event loop
 * (writeJsonReplaceSync): for the steps whose side effects a reboot undoes (conmon, the runtime container in
 * the runtime dir, its cgroup), where the record need only be seen by the next ucri after a crash of this one
 * (docs/performance.md, phase 4).
 */
export async function saveContainer(
  paths: MesosPaths,
  rec: ContainerRecord,
  opts: { durable?: boolean } = {},
): Promise<void> {
  const file = paths.containerRecord(rec.spec.podId, rec.spec.id);
  if (opts.durable === false) writeJsonReplaceSync(file, rec);
  else await writeJsonAtomic(file, rec);
}

/**
 * The first, durable checkpoint of a container, in the create's one durable round: renamed into place, then
 * the file, its directory (made during the provision) and the pod's containers dir (which holds the new
 * directory's name) fsync'd concurrently. A power loss during the round may leave container.json torn (name
 * durable, content not): loadRecords reads a torn record as broken and removes its dir, so the create is
 * undone exactly as when the file is absent (the CRI is told `lost` and rolls back; the provisioner destroys
 * the rootfs of an id it is not told to keep). With `parentSynced` the pod's containers dir is not synced here:
 * that promise is the caller's fsync of it, made after the record dir was and awaited with the rest. Never
 * for a record that exists: a torn replacement would lose the previous content (saveContainer writes those
 * with fsync before the rename).
 */
export async function saveNewContainer(
  paths: MesosPaths,
  rec: ContainerRecord,
  opts: { parentSynced?: Promise<void> } = {},
): Promise<void> {
  const file = paths.containerRecord(rec.spec.podId, rec.spec.id);
  if (opts.parentSynced === undefined) {
    await writeNewJsonDurable(file, rec, [paths.containerRecordsDir(rec.spec.podId)]);
    return;
  }
  // The pod's containers dir was fsync'd once the record dir was made (the caller's `parentSynced`, started
  // before the record existed): only the file and its own dir are left to sync here.
  await Promise.all([writeNewJsonDurable(file, rec), opts.parentSynced]);
}

function big(v: unknown): bigint {
  if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  return 0n;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function listDirs(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Every pod record and its container records from the work dir. Unreadable records are logged and
 * returned in `broken` (their directories are then orphans).
 */
export async function loadRecords(
  paths: MesosPaths,
): Promise<{ pods: PodRecord[]; containers: ContainerRecord[]; broken: string[] }> {
  const pods: PodRecord[] = [];
  const containers: ContainerRecord[] = [];
  const broken: string[] = [];
  for (const podId of await listDirs(paths.podRecordsDir)) {
    let raw: unknown;
    try {
      raw = await readJson(paths.podRecord(podId));
    } catch (err) {
      log.warn({ err, podId }, 'unreadable pod record');
    }
    if (!isObject(raw) || raw.version !== RECORD_VERSION || !isObject(raw.spec) || raw.spec.id !== podId) {
      broken.push(podId);
      continue;
    }
    pods.push({ ...(raw as unknown as PodRecord), createdAt: big(raw.createdAt) });
    for (const id of await listDirs(paths.containerRecordsDir(podId))) {
      let c: unknown;
      try {
        c = await readJson(paths.containerRecord(podId, id));
      } catch (err) {
        log.warn({ err, id }, 'unreadable container record');
      }
      if (!isObject(c) || c.version !== RECORD_VERSION || !isObject(c.spec) || c.spec.id !== id) {
        broken.push(path.relative(paths.podRecordsDir, paths.containerRecordDir(podId, id)));
        continue;
      }
      const rec = c as unknown as ContainerRecord;
      rec.startedAt = big(c.startedAt);
      rec.createdAt = big(c.createdAt);
      if (rec.termination) rec.termination = { ...rec.termination, finishedAt: big(rec.termination.finishedAt) };
      containers.push(rec);
    }
  }
  return { pods, containers, broken };
}

export { RECORD_VERSION };
