/**
 * Pod sandbox records.
 *
 *                   runPod ok                 StopPodSandbox
 *   ┌──────────┐ ────────────► ┌───────┐ ─────────────────────► ┌─────────┐  RemovePodSandbox
 *   │ creating │               │ ready │                        │ stopped │ ─────────────────► (removed)
 *   └──────────┘ ◄── recovery  └───────┘ ── recovery: pod lost ─►└─────────┘
 *        │ runPod failed / ucri crashed during runPod
 *        └─────────────────────────────────────────────────────► (removed, rolled back)
 *
 * A ready pod that its containerizer reports lost (its infra process died) becomes `stopped` at once.
 * CRI sees `creating` and `stopped` as SANDBOX_NOTREADY; `creating` records are hidden from ListPodSandbox
 * (nobody has their id yet). The record is written before the containerizer's runPod, so a crash in the
 * middle of CNI ADD leaves a `creating` record that recovery rolls back (CNI DEL, pins, cgroup).
 */
import path from 'node:path';
import type { PodSpec } from '../../containerizer/index.js';
import { NamedRecordStore } from './name-index.js';
import { big, type RecordCodec, type StoredRecord } from './record-store.js';

export type SandboxState = 'creating' | 'ready' | 'stopped';

/** What never changes after RunPodSandbox. */
export interface SandboxMeta {
  id: string;
  /** The domain spec handed to the containerizer (kept for recovery). */
  spec: PodSpec;
  /** Name index key, see sandboxName(). */
  name: string;
  /** Fingerprint of the RunPodSandbox request, to recognise a retry. */
  fingerprint: string;
  createdAt: bigint;
}

/** What changes, only through SandboxStore.update. */
export interface SandboxStatus {
  state: SandboxState;
  /** Pod IPs, primary first. */
  ips: string[];
  netnsPath: string;
}

export type SandboxRecord = StoredRecord<SandboxMeta, SandboxStatus>;

/** The reserved name of a pod: `<name>_<namespace>_<uid>_<attempt>`. */
export function sandboxName(m: { name: string; namespace: string; uid: string; attempt: number }): string {
  return `${m.name}_${m.namespace}_${m.uid}_${m.attempt}`;
}

const codec: RecordCodec<SandboxMeta, SandboxStatus> = {
  kind: 'pod sandbox',
  decodeMeta(raw) {
    const m = raw as SandboxMeta & { createdAt: unknown };
    if (typeof m?.id !== 'string' || typeof m.spec?.id !== 'string') throw new Error('not a sandbox record');
    // Records written before pods remembered their handler belong to the default containerizer (mesos).
    return { ...m, spec: { ...m.spec, runtimeHandler: m.spec.runtimeHandler ?? '' }, createdAt: big(m.createdAt) };
  },
  decodeStatus(raw) {
    const s = raw as SandboxStatus;
    if (!['creating', 'ready', 'stopped'].includes(s?.state)) throw new Error(`bad sandbox state`);
    return { state: s.state, ips: Array.isArray(s.ips) ? s.ips : [], netnsPath: s.netnsPath ?? '' };
  },
  id: (m) => m.id,
};

/** Sandbox records under `<work_dir>/cri/sandboxes`, with their name index. */
export class SandboxStore extends NamedRecordStore<SandboxMeta, SandboxStatus> {
  /** Ids of ready pods watched for being lost (runtime only: re-armed by recovery). */
  readonly watched = new Set<string>();

  constructor(workDir: string) {
    super(path.join(workDir, 'cri', 'sandboxes'), codec);
  }

  /** Removes the record, frees its name and forgets its watch. */
  override async remove(id: string): Promise<void> {
    await super.remove(id);
    this.watched.delete(id);
  }
}
