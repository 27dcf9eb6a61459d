/**
 * The `network/cni` isolator: the Mesos face of the shared CNI attacher (pkg/cni). It attaches a pod's
 * pinned network namespace to the default CNI network at setup (ADD) and detaches it at teardown and
 * cleanup (DEL), and mirrors the attachment's checkpoint into PodState.data['network/cni'] for the
 * containerizer's pod record. Checkpoints, retries and crash safety live in pkg/cni.
 */
import {
  asCniRecord,
  CniAttacher,
  type CniAttacherOptions,
  type CniRecord,
  type CniRecordSink,
} from '../../../cni/index.js';
import { FailedPreconditionError } from '../../../util/index.js';
import type { Isolator, PodContext, PodState } from '../../isolator.js';

export type { CniRecord };

/** The isolator's name (`--isolation`) and its key in PodState.data. */
export const CNI_ISOLATOR = 'network/cni';

export type CniIsolatorOptions = CniAttacherOptions;

/** Keeps PodState's mirror (record and IPs) in step with the checkpoint. */
function mirror(state: PodState): CniRecordSink {
  return (record) => {
    if (record) {
      state.data[CNI_ISOLATOR] = record;
    } else {
      delete state.data[CNI_ISOLATOR];
      state.ips = [];
    }
  };
}

/** The isolator; see the file comment. Create it with cniIsolator(). */
export class CniIsolator implements Isolator {
  readonly name = CNI_ISOLATOR;
  /** Its `adding` checkpoint is written while the pod's record and pins are made; ADD waits for them. */
  readonly setupBeforeRecord = true;
  private readonly attacher: CniAttacher;

  constructor(opts: CniIsolatorOptions) {
    this.attacher = new CniAttacher(opts);
  }

  /** Attaches the pod (CNI ADD) unless it uses the host's network; sets PodState.ips. */
  async setupPod(pod: PodContext, signal: AbortSignal, ready?: Promise<void>): Promise<void> {
    if (pod.spec.namespaces.network === 'node') {
      // Kubelet reports the node's address for host-network pods itself; runtimes leave the IPs empty.
      pod.state.ips = [];
      return;
    }
    const netns = pod.state.netns;
    if (!netns) throw new FailedPreconditionError(`pod "${pod.state.id}" has no network namespace to attach`);
    const record = await this.attacher.attach(pod.spec, netns, signal, mirror(pod.state), ready);
    pod.state.ips = record.ips;
  }

  /** Detaches the pod (CNI DEL, own deadline, retried); idempotent; a no-op for pods never attached. */
  async teardownPod(pod: PodContext, _signal: AbortSignal): Promise<void> {
    // The request's signal is deliberately unused: a DEL cut short by an expired request is how IPs leak.
    await this.attacher.detach(pod.state.id, asCniRecord(pod.state.data[CNI_ISOLATOR]), mirror(pod.state));
  }

  /** Same as teardownPod: removal retries a DEL that stop could not finish. */
  async cleanupPod(pod: PodContext): Promise<void> {
    await this.attacher.detach(pod.state.id, asCniRecord(pod.state.data[CNI_ISOLATOR]), mirror(pod.state));
  }

  /** CNI CHECK of an attached pod (diagnostics; not part of the isolator contract). */
  async check(pod: PodContext, signal: AbortSignal): Promise<void> {
    await this.attacher.check(pod.state.id, signal);
  }

  /**
   * Reconciles checkpoints with the recovered pods: completed attachments are restored into their
   * PodState; half-made ones and those of vanished pods are DELeted (pkg/cni CniAttacher.recover).
   */
  async recover(pods: PodContext[]): Promise<void> {
    const known = new Map(pods.map((p) => [p.state.id, asCniRecord(p.state.data[CNI_ISOLATOR])]));
    const restored = await this.attacher.recover(known);
    for (const pod of pods) {
      const record = restored.get(pod.state.id);
      if (!record) continue;
      pod.state.ips = record.ips;
      pod.state.data[CNI_ISOLATOR] = record;
    }
  }
}

/** Factory for the isolators table. */
export function cniIsolator(opts: CniIsolatorOptions): CniIsolator {
  return new CniIsolator(opts);
}
