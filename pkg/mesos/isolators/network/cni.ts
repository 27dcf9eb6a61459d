/**
 * The `network/cni` isolator: attaches a pod's pinned network namespace to the default CNI network (ADD)
 * and detaches it (DEL), to today's CNI specification — what Mesos' CNI isolator did with pre-0.3 results,
 * single-plugin files and no CNI_ARGS/runtimeConfig (mesos-containerizer.md §4).
 *
 * Leaks are the failure that matters: an address taken by host-local or an iptables rule made by portmap
 * outlives the pod unless DEL runs. So each attachment is checkpointed in this isolator's own directory
 * *before* ADD starts, with the exact network config used, and removed only after a DEL succeeded:
 *
 *   <stateDir>/                      (under the work dir: IPAM state survives reboots, so must this)
 *     <podId>.json                   CniRecord: phase adding|added, network config, CNI params, result
 *
 * DEL always runs with its own deadline (never the request's, which may be the one that just expired), is
 * retried a few times per call, and again on every teardownPod/cleanupPod and at recovery, until it
 * succeeds. DEL of a half-made attachment (phase `adding`, no result) and DEL without the namespace (the
 * pin is gone: CNI_NETNS is then omitted, as the spec allows) both release what the plugins hold.
 * The same record is mirrored into PodState.data['network/cni'] for the containerizer's pod record.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PodSpec } from '../../../containerizer/index.js';
import { isPinned } from '../../../sys/index.js';
import {
  checkId,
  errorMessage,
  FailedPreconditionError,
  fromAbort,
  InternalError,
  isKind,
  isTempName,
  isValidId,
  KeyedLock,
  logger,
  readJson,
  removeStaleTemps,
  UcriError,
  UnavailableError,
  writeJsonAtomic,
} from '../../../util/index.js';
import type { Isolator, PodContext, PodState } from '../../isolator.js';
import { podCapabilityArgs, podCniArgs } from './capabilities.js';
import { type CniNetwork, defaultCniNetwork } from './cni-config.js';
import { addNetworkList, type CniAttachment, checkNetworkList, delNetworkList, type InvokeOptions } from './exec.js';
import { parseCniResult, podIps } from './result.js';

const log = logger('mesos/isolators/network/cni');

/** The isolator's name (`--isolation`) and its key in PodState.data. */
export const CNI_ISOLATOR = 'network/cni';

export interface CniIsolatorOptions {
  /** `--network_cni_config_dir`. */
  configDir: string;
  /** `--network_cni_plugins_dir`, split. */
  pluginDirs: readonly string[];
  /** Where attachments are checkpointed (e.g. `<work_dir>/isolators/network/cni`). */
  stateDir: string;
  /** The node's pod CIDR from UpdateRuntimeConfig, read at each ADD (for the `ipRanges` capability). */
  podCidr?: () => string;
  /** The pod's interface name (default `eth0`). */
  ifname?: string;
  /** ADD attempts (default 2: one retry after a clean undo, for plugins racing on shared host state). */
  addAttempts?: number;
  /** Deadline of one DEL attempt, ms (default 60 s). */
  delTimeoutMs?: number;
  /** DEL attempts per teardown call (default 3). */
  delAttempts?: number;
  /** Pause before the n-th retry is n × this, ms (default 500). */
  retryDelayMs?: number;
}

/** One attachment as checkpointed: enough to DEL or CHECK it after a restart, whatever the config dir says. */
export interface CniRecord {
  podId: string;
  /** `adding` from before ADD until its result is stored; `added` after. */
  phase: 'adding' | 'added';
  /** The exact network (list) config ADD used. */
  network: Pick<CniNetwork, 'name' | 'file' | 'cniVersion' | 'config'>;
  attachment: CniAttachment;
  /** The raw result of the last plugin of ADD (the `prevResult` of DEL and CHECK). */
  result?: unknown;
  ips: string[];
}

/** The isolator; see the file comment. Create it with cniIsolator(). */
export class CniIsolator implements Isolator {
  readonly name = CNI_ISOLATOR;
  private readonly locks = new KeyedLock();
  private readonly ifname: string;

  constructor(private readonly opts: CniIsolatorOptions) {
    this.ifname = opts.ifname ?? 'eth0';
  }

  private file(podId: string): string {
    checkId(podId, 'pod id');
    return path.join(this.opts.stateDir, `${podId}.json`);
  }

  private async load(podId: string): Promise<CniRecord | undefined> {
    return (await readJson(this.file(podId))) as CniRecord | undefined;
  }

  private async save(state: PodState, record: CniRecord): Promise<void> {
    await writeJsonAtomic(this.file(record.podId), record);
    state.data[CNI_ISOLATOR] = record;
  }

  private invokeOpts(signal?: AbortSignal): InvokeOptions {
    return { pluginDirs: this.opts.pluginDirs, ...(signal ? { signal } : {}) };
  }

  /** Attaches the pod (CNI ADD) unless it uses the host's network; sets PodState.ips. */
  async setupPod(pod: PodContext, signal: AbortSignal): Promise<void> {
    if (pod.spec.namespaces.network === 'node') {
      // Kubelet reports the node's address for host-network pods itself; runtimes leave the IPs empty.
      pod.state.ips = [];
      return;
    }
    await this.locks.run(pod.state.id, () => this.setupLocked(pod.spec, pod.state, signal));
  }

  private async setupLocked(spec: PodSpec, state: PodState, signal: AbortSignal): Promise<void> {
    const netns = state.netns;
    if (!netns) throw new FailedPreconditionError(`pod "${state.id}" has no network namespace to attach`);
    const existing = await this.load(state.id);
    if (existing?.phase === 'added' && existing.attachment.netns === netns) {
      // A retried setup of an attachment that completed: nothing to redo.
      state.ips = existing.ips;
      state.data[CNI_ISOLATOR] = existing;
      return;
    }
    if (existing) await this.detach(state, existing);

    const { network, scan } = await defaultCniNetwork(this.opts.configDir, this.opts.pluginDirs);
    if (!network) {
      throw new FailedPreconditionError(
        `no usable cni network config in "${this.opts.configDir}" (${scan.reason}): ${scan.problems.join('; ')}`,
      );
    }
    const attachment: CniAttachment = {
      containerId: state.id,
      netns,
      ifname: this.ifname,
      args: podCniArgs(spec),
      capabilityArgs: podCapabilityArgs(spec, { podCidr: this.opts.podCidr?.() ?? '' }),
    };
    const record: CniRecord = {
      podId: state.id,
      phase: 'adding',
      network: { name: network.name, file: network.file, cniVersion: network.cniVersion, config: network.config },
      attachment,
      ips: [],
    };
    const attempts = Math.max(1, this.opts.addAttempts ?? 2);
    let ips: string[] = [];
    for (let i = 1; i <= attempts; i++) {
      // Persist before ADD: a crash in the middle leaves a record that recovery turns into a DEL.
      await this.save(state, record);
      try {
        const raw = await addNetworkList(network, attachment, this.invokeOpts(signal));
        ips = podIps(parseCniResult(raw, network.cniVersion), this.ifname);
        if (ips.length === 0) {
          throw new InternalError(`cni network "${network.name}" gave pod "${state.id}" no address`);
        }
        record.result = raw;
        break;
      } catch (err) {
        const cause = fromAbort(err, signal);
        let undone = true;
        await this.detach(state, record).catch((e: unknown) => {
          undone = false;
          log.warn({ pod: state.id, err: errorMessage(e) }, 'undo of a failed cni add failed; retried at teardown');
        });
        // Plugins racing on shared host state (the first pods creating one bridge or iptables chain) fail
        // transiently; one more clean attempt hides that from the caller. Aborts and bad input do not retry.
        const retry = undone && i < attempts && !signal.aborted && isKind(cause, 'Internal');
        if (retry) {
          log.warn({ pod: state.id, err: errorMessage(cause) }, 'cni add failed; retrying once');
          continue;
        }
        throw cause instanceof UcriError
          ? cause
          : new InternalError(`cni add of pod "${state.id}" failed: ${errorMessage(cause)}`, { cause });
      }
    }
    record.phase = 'added';
    record.ips = ips;
    await this.save(state, record);
    state.ips = ips;
    log.debug({ pod: state.id, network: network.name, ips }, 'pod attached');
  }

  /** Detaches the pod (CNI DEL, own deadline, retried); idempotent; a no-op for pods never attached. */
  async teardownPod(pod: PodContext, _signal: AbortSignal): Promise<void> {
    // The request's signal is deliberately unused: a DEL cut short by an expired request is how IPs leak.
    await this.locks.run(pod.state.id, () => this.teardownLocked(pod.state));
  }

  /** Same as teardownPod: removal retries a DEL that stop could not finish. */
  async cleanupPod(pod: PodContext): Promise<void> {
    await this.locks.run(pod.state.id, () => this.teardownLocked(pod.state));
  }

  private async teardownLocked(state: PodState): Promise<void> {
    const record = (await this.load(state.id)) ?? asRecord(state.data[CNI_ISOLATOR]);
    if (!record) {
      state.ips = [];
      return;
    }
    await this.detach(state, record);
  }

  /** DEL with retries; on success the checkpoint and PodState's record are gone and the IPs cleared. */
  private async detach(state: PodState, record: CniRecord): Promise<void> {
    await this.delWithRetries(record);
    await fs.rm(this.file(record.podId), { force: true });
    delete state.data[CNI_ISOLATOR];
    state.ips = [];
  }

  private async delWithRetries(record: CniRecord): Promise<void> {
    const attempts = Math.max(1, this.opts.delAttempts ?? 3);
    const attachment: CniAttachment = { ...record.attachment };
    // Without its namespace (pin removed, host rebooted) DEL still releases IPAM and host-side rules.
    if (attachment.netns !== undefined && !(await isPinned(attachment.netns))) delete attachment.netns;
    const net: CniNetwork = { ...record.network };
    let last: unknown;
    for (let i = 1; i <= attempts; i++) {
      try {
        const signal = AbortSignal.timeout(this.opts.delTimeoutMs ?? 60_000);
        await delNetworkList(net, attachment, record.result, this.invokeOpts(signal));
        log.debug({ pod: record.podId, network: net.name, netns: attachment.netns ?? null }, 'pod detached');
        return;
      } catch (err) {
        last = err;
        log.warn({ pod: record.podId, attempt: i, err: errorMessage(err) }, 'cni del failed');
        if (i < attempts) await sleep(i * (this.opts.retryDelayMs ?? 500));
      }
    }
    throw new UnavailableError(
      `cni del of pod "${record.podId}" failed after ${attempts} attempt(s): ${errorMessage(last)}`,
      { cause: last },
    );
  }

  /**
   * CNI CHECK of an attached pod (0.4.0+ networks that do not disable it); resolves when the attachment is
   * as ADD left it or when CHECK does not apply. Not part of the isolator contract: for diagnostics.
   */
  async check(pod: PodContext, signal: AbortSignal): Promise<void> {
    const record = await this.load(pod.state.id);
    if (record?.phase !== 'added') {
      throw new FailedPreconditionError(`pod "${pod.state.id}" is not attached to a cni network`);
    }
    await checkNetworkList({ ...record.network }, record.attachment, record.result, this.invokeOpts(signal));
  }

  /**
   * Reconciles checkpoints with the recovered pods: a completed attachment of a known pod is restored into
   * its PodState; a half-made one (the daemon died during ADD) and any of a pod that no longer exists get a
   * DEL. A DEL that still fails keeps its checkpoint for the next teardown or restart; recovery goes on.
   */
  async recover(pods: PodContext[]): Promise<void> {
    await fs.mkdir(this.opts.stateDir, { recursive: true, mode: 0o700 });
    await removeStaleTemps(this.opts.stateDir);
    const byId = new Map(pods.map((p) => [p.state.id, p]));
    const names = (await fs.readdir(this.opts.stateDir)).filter((n) => n.endsWith('.json') && !isTempName(n));
    const work: Array<() => Promise<void>> = [];
    const seen = new Set<string>();
    for (const name of names) {
      const id = name.slice(0, -'.json'.length);
      if (!isValidId(id)) continue;
      seen.add(id);
      const pod = byId.get(id);
      work.push(async () => {
        const record = await this.load(id).catch(() => undefined);
        if (!record || record.podId !== id) {
          log.warn({ pod: id }, 'unreadable cni checkpoint left in place');
          return;
        }
        if (pod && record.phase === 'added') {
          pod.state.ips = record.ips;
          pod.state.data[CNI_ISOLATOR] = record;
          return;
        }
        const state: PodState = pod?.state ?? orphanState(id);
        await this.locks
          .run(id, () => this.detach(state, record))
          .catch((e: unknown) => log.warn({ pod: id, err: errorMessage(e) }, 'cni del at recovery failed'));
      });
    }
    // A pod record that names an attachment this directory lost: adopt it, so teardown still DELs it.
    for (const pod of pods) {
      const record = asRecord(pod.state.data[CNI_ISOLATOR]);
      if (record && !seen.has(pod.state.id) && record.podId === pod.state.id) {
        work.push(() => writeJsonAtomic(this.file(record.podId), record));
      }
    }
    await runLimited(work, 8);
  }
}

/** A PodState for a pod the containerizer no longer knows, enough to run a DEL from a checkpoint. */
function orphanState(id: string): PodState {
  return { id, dir: '', cgroup: '', ips: [], infraPid: 0, data: {} };
}

function asRecord(v: unknown): CniRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Partial<CniRecord>;
  return typeof r.podId === 'string' && r.network && r.attachment ? (r as CniRecord) : undefined;
}

/** Runs `tasks` with at most `limit` in flight. */
async function runLimited(tasks: Array<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const task = tasks[next++]!;
      await task();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}

/** Factory for the isolators table. */
export function cniIsolator(opts: CniIsolatorOptions): CniIsolator {
  return new CniIsolator(opts);
}
