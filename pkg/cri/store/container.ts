/**
 * Container records.
 *
 *                 createContainer ok        StartContainer           process ended (wait())
 *   ┌──────────┐ ─────────────────► ┌─────────┐ ──────────► ┌─────────┐ ───────────────────► ┌────────┐
 *   │ creating │                    │ created │             │ running │                      │ exited │
 *   └──────────┘                    └─────────┘ ─┐          └─────────┘ ─┐                   └────────┘
 *        │ failed / ucri crashed         │ start failed ──────────────────┼─► exited (reason  ▲   │
 *        ▼                               │                               │   ContainerCannotRun)│
 *    (removed, rolled back)              └─ recovery: lost ──────────────┴─► exited 255 `Unknown` │
 *                                                                                                ▼
 *   RemoveContainer from any state but creating ─────────────────────────────────────────► (removed)
 *
 * `unknown` is reserved for a container whose state the containerizer cannot tell (CRI CONTAINER_UNKNOWN);
 * kubelet kills such containers and carries on. `creating` records are hidden from CRI listings.
 */
import path from 'node:path';
import type { ContainerSpec, Resources } from '../../containerizer/index.js';
import { NamedRecordStore } from './name-index.js';
import { big, type RecordCodec, type StoredRecord } from './record-store.js';

export type ContainerState = 'creating' | 'created' | 'running' | 'exited' | 'unknown';

/** What never changes after CreateContainer. */
export interface ContainerMeta {
  id: string;
  podId: string;
  /** The domain spec handed to the containerizer (kept for recovery). */
  spec: ContainerSpec;
  /** Name index key, see containerName(). */
  name: string;
  fingerprint: string;
  createdAt: bigint;
  /** The image as CRI status shows it: the spec kubelet sent, a repo tag of the image, its id and ref. */
  image: {
    /** `ImageSpec.image` kubelet sent. */
    requested: string;
    /** The image's first repo tag (what `crictl ps` shows), else the requested name. */
    display: string;
    /** Config digest, `sha256:…`. */
    id: string;
    /** A repo digest when the image has one, else the id (CRI `image_ref`). */
    ref: string;
  };
  /** The CRI runtime handler of the pod (the containerizer that runs it). */
  runtimeHandler: string;
}

/** What changes, only through ContainerStore.update. */
export interface ContainerStatus {
  state: ContainerState;
  pid: number;
  startedAt: bigint;
  finishedAt: bigint;
  exitCode: number;
  reason: string;
  message: string;
  /** Current limits (changed by UpdateContainerResources). */
  resources: Resources;
  /** The user the process runs as, once the containerizer has resolved it. */
  user: { uid: number; gid: number; supplementalGroups: number[] } | undefined;
}

export type ContainerRecord = StoredRecord<ContainerMeta, ContainerStatus>;

/** The reserved name of a container, scoped to its pod: `<name>_<pod id>_<attempt>`. */
export function containerName(name: string, podId: string, attempt: number): string {
  return `${name}_${podId}_${attempt}`;
}

const STATES: readonly ContainerState[] = ['creating', 'created', 'running', 'exited', 'unknown'];

const codec: RecordCodec<ContainerMeta, ContainerStatus> = {
  kind: 'container',
  decodeMeta(raw) {
    const m = raw as ContainerMeta & { createdAt: unknown };
    if (typeof m?.id !== 'string' || typeof m.spec?.id !== 'string' || typeof m.podId !== 'string') {
      throw new Error('not a container record');
    }
    // Records written before containers remembered their handler belong to the default containerizer.
    return { ...m, runtimeHandler: m.runtimeHandler ?? '', createdAt: big(m.createdAt) };
  },
  decodeStatus(raw) {
    const s = raw as ContainerStatus & { startedAt: unknown; finishedAt: unknown };
    if (!STATES.includes(s?.state)) throw new Error('bad container state');
    return { ...s, startedAt: big(s.startedAt), finishedAt: big(s.finishedAt) };
  },
  id: (m) => m.id,
};

/** Container records under `<work_dir>/cri/containers`, with their name index. */
export class ContainerStore extends NamedRecordStore<ContainerMeta, ContainerStatus> {
  /** Ids whose exit is being watched (runtime only: re-armed by recovery). */
  readonly watched = new Set<string>();

  constructor(workDir: string) {
    super(path.join(workDir, 'cri', 'containers'), codec);
  }

  /** Removes the record, frees its name and forgets its exit watch. */
  override async remove(id: string): Promise<void> {
    await super.remove(id);
    this.watched.delete(id);
  }

  /** The containers of one pod. */
  ofPod(podId: string): ContainerRecord[] {
    return this.list().filter((r) => r.meta.podId === podId);
  }
}

/** The status of a container that was just created. */
export function createdStatus(resources: Resources): ContainerStatus {
  return {
    state: 'creating',
    pid: 0,
    startedAt: 0n,
    finishedAt: 0n,
    exitCode: 0,
    reason: '',
    message: '',
    resources,
    user: undefined,
  };
}
