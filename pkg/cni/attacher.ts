/**
 * CNI attachments of pod network namespaces, shared by every containerizer (the Mesos `network/cni`
 * isolator and the Docker containerizer): ADD to the default network with CNI_ARGS and runtimeConfig, DEL,
 * CHECK, and the checkpoints that make them crash safe — what Mesos' CNI isolator did with pre-0.3 results,
 * single-plugin files and no CNI_ARGS/runtimeConfig (mesos-containerizer.md §4).
 *
 * Leaks are the failure that matters: an address taken by host-local or an iptables rule made by portmap
 * outlives the pod unless DEL runs. So each attachment is checkpointed in the attacher's own directory
 * *before* ADD starts, with the exact network config used, and removed only after a DEL succeeded:
 *
 *   <stateDir>/                      (under the work dir: IPAM state survives reboots, so must this)
 *     <podId>.json                   CniRecord: phase adding|added, network config, CNI params, result
 *
 * DEL always runs with its own deadline (never the request's, which may be the one that just expired), is
 * retried a few times per call, and again on every detach and at recovery, until it succeeds. DEL of a
 * half-made attachment (phase `adding`, no result) and DEL without the namespace (the pin is gone:
 * CNI_NETNS is then omitted, as the spec allows) both release what the plugins hold.
 */
import { promises as fs } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isPinned } from '../sys/index.js';
import {
  errorMessage,
  FailedPreconditionError,
  fromAbort,
  InternalError,
  InvalidArgumentError,
  isKind,
  isTempName,
  joinPath,
  KeyedLock,
  logger,
  readJson,
  removeStaleTemps,
  UcriError,
  UnavailableError,
  writeJsonAtomic,
  writeJsonReplaceSync,
} from '../util/index.js';
import { type PodNetworkSpec, podCapabilityArgs, podCniArgs } from './capabilities.js';
import { type CniNetwork, defaultCniNetwork } from './config.js';
import { addNetworkList, type CniAttachment, checkNetworkList, delNetworkList, type InvokeOptions } from './exec.js';
import { parseCniResult, podIps } from './result.js';

const log = logger('cni');

export interface CniAttacherOptions {
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

/** Called with the record each time it is checkpointed (undefined once it is gone), for mirrors of it. */
export type CniRecordSink = (record: CniRecord | undefined) => void;

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Reads a value that should be a CniRecord (from a pod record's mirror); undefined when it is not one. */
export function asCniRecord(v: unknown): CniRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Partial<CniRecord>;
  return typeof r.podId === 'string' && r.network && r.attachment ? (r as CniRecord) : undefined;
}

/** Attaches and detaches pods' network namespaces; see the file comment. */
export class CniAttacher {
  private readonly locks = new KeyedLock();
  private readonly ifname: string;

  constructor(private readonly opts: CniAttacherOptions) {
    this.ifname = opts.ifname ?? 'eth0';
  }

  private file(podId: string): string {
    if (!ID_RE.test(podId)) throw new InvalidArgumentError(`invalid pod id "${podId}"`);
    return joinPath(this.opts.stateDir, `${podId}.json`);
  }

  /** The checkpointed attachment of a pod, if any. */
  async load(podId: string): Promise<CniRecord | undefined> {
    return (await readJson(this.file(podId))) as CniRecord | undefined;
  }

  /**
   * Checkpoints `record`: durably (fsync'd) by default, or only renamed into place with `durable: false` (on
   * the event loop, writeJsonReplaceSync), which a SIGKILL never loses (the page cache survives it) and a power
   * loss may roll back to the record's previous, durable version.
   */
  private async save(record: CniRecord, sink?: CniRecordSink, durable = true): Promise<void> {
    if (durable) await writeJsonAtomic(this.file(record.podId), record);
    else writeJsonReplaceSync(this.file(record.podId), record);
    sink?.(record);
  }

  private invokeOpts(signal?: AbortSignal): InvokeOptions {
    return { pluginDirs: this.opts.pluginDirs, ...(signal ? { signal } : {}) };
  }

  /**
   * Attaches the pod's namespace `netns` to the default network (CNI ADD); returns the completed record
   * (its `ips`, primary first). A retry of an attachment that completed on the same namespace redoes nothing.
   * With `ready` (the caller's own record and the namespace still being made), the `adding` checkpoint is
   * written meanwhile and ADD waits for `ready`; when it rejects, the checkpoint is removed (no plugin ran)
   * and its error thrown.
   */
  async attach(
    spec: PodNetworkSpec,
    netns: string,
    signal: AbortSignal,
    sink?: CniRecordSink,
    ready?: Promise<void>,
  ): Promise<CniRecord> {
    ready?.catch(() => {}); // awaited after the checkpoint is written; its rejection is handled there
    return this.locks.run(spec.id, () => this.attachLocked(spec, netns, signal, sink, ready));
  }

  private async attachLocked(
    spec: PodNetworkSpec,
    netns: string,
    signal: AbortSignal,
    sink?: CniRecordSink,
    ready?: Promise<void>,
  ): Promise<CniRecord> {
    const existing = await this.load(spec.id);
    if (existing?.phase === 'added' && existing.attachment.netns === netns) {
      sink?.(existing);
      return existing;
    }
    if (existing) await this.detachRecord(existing, sink);

    const { network, scan } = await defaultCniNetwork(this.opts.configDir, this.opts.pluginDirs);
    if (!network) {
      throw new FailedPreconditionError(
        `no usable cni network config in "${this.opts.configDir}" (${scan.reason}): ${scan.problems.join('; ')}`,
      );
    }
    const attachment: CniAttachment = {
      containerId: spec.id,
      netns,
      ifname: this.ifname,
      args: podCniArgs(spec),
      capabilityArgs: podCapabilityArgs(spec, { podCidr: this.opts.podCidr?.() ?? '' }),
    };
    const record: CniRecord = {
      podId: spec.id,
      phase: 'adding',
      network: { name: network.name, file: network.file, cniVersion: network.cniVersion, config: network.config },
      attachment,
      ips: [],
    };
    const attempts = Math.max(1, this.opts.addAttempts ?? 2);
    let ips: string[] = [];
    for (let i = 1; i <= attempts; i++) {
      // Persist before ADD: a crash in the middle leaves a record that recovery turns into a DEL.
      await this.save(record, sink);
      if (i === 1 && ready) {
        let failed = false;
        let cause: unknown;
        await ready.catch((e: unknown) => {
          failed = true;
          cause = e;
        });
        if (failed) {
          await fs.rm(this.file(record.podId), { force: true });
          sink?.(undefined);
          throw cause;
        }
      }
      try {
        const raw = await addNetworkList(network, attachment, this.invokeOpts(signal));
        ips = podIps(parseCniResult(raw, network.cniVersion), this.ifname);
        if (ips.length === 0) {
          throw new InternalError(`cni network "${network.name}" gave pod "${spec.id}" no address`);
        }
        record.result = raw;
        break;
      } catch (err) {
        const cause = fromAbort(err, signal);
        let undone = true;
        await this.detachRecord(record, sink).catch((e: unknown) => {
          undone = false;
          log.warn({ pod: spec.id, err: errorMessage(e) }, 'undo of a failed cni add failed; retried at teardown');
        });
        // Plugins racing on shared host state (the first pods creating one bridge or iptables chain) fail
        // transiently; one more clean attempt hides that from the caller. Aborts and bad input do not retry.
        const retry = undone && i < attempts && !signal.aborted && isKind(cause, 'Internal');
        if (retry) {
          log.warn({ pod: spec.id, err: errorMessage(cause) }, 'cni add failed; retrying once');
          continue;
        }
        throw cause instanceof UcriError
          ? cause
          : new InternalError(`cni add of pod "${spec.id}" failed: ${errorMessage(cause)}`, { cause });
      }
    }
    record.phase = 'added';
    record.ips = ips;
    // Renamed, not fsync'd (two journal commits fewer on RunPodSandbox's path): the durable `adding` before it
    // is the record of intent. A power loss that rolls this back to `adding` has also taken the pod's network
    // namespace (its pin lives on a tmpfs), so recovery's DEL of an `adding` record is then the right thing;
    // the host-local lease, which outlives a reboot, is released by that DEL. The caller's READY is renamed
    // without fsync too ("Pod verbs, phase 8").
    await this.save(record, sink, false);
    log.debug({ pod: spec.id, network: network.name, ips }, 'pod attached');
    return record;
  }

  /**
   * Detaches the pod (CNI DEL, own deadline, retried); idempotent; a no-op for pods never attached.
   * `fallback` is a mirror of the record kept elsewhere, used when the checkpoint is gone.
   */
  async detach(podId: string, fallback?: CniRecord, sink?: CniRecordSink): Promise<void> {
    await this.locks.run(podId, async () => {
      const record = (await this.load(podId)) ?? fallback;
      if (record) await this.detachRecord(record, sink);
      else sink?.(undefined);
    });
  }

  /** DEL with retries; on success the checkpoint is gone. */
  private async detachRecord(record: CniRecord, sink?: CniRecordSink): Promise<void> {
    await this.delWithRetries(record);
    await fs.rm(this.file(record.podId), { force: true });
    sink?.(undefined);
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
   * as ADD left it or when CHECK does not apply.
   */
  async check(podId: string, signal: AbortSignal): Promise<void> {
    const record = await this.load(podId);
    if (record?.phase !== 'added') {
      throw new FailedPreconditionError(`pod "${podId}" is not attached to a cni network`);
    }
    await checkNetworkList({ ...record.network }, record.attachment, record.result, this.invokeOpts(signal));
  }

  /**
   * Reconciles checkpoints with the pods that still exist (`known`: pod id → the mirror of its record, if
   * the pod keeps one). Returns the completed attachments of known pods; a half-made one (the daemon died
   * during ADD) and any of a pod that no longer exists get a DEL. A DEL that still fails keeps its
   * checkpoint for the next detach or restart; recovery goes on. A known pod whose mirror names an
   * attachment this directory lost has it adopted, so a later detach still DELs it.
   */
  async recover(known: ReadonlyMap<string, CniRecord | undefined>): Promise<Map<string, CniRecord>> {
    await fs.mkdir(this.opts.stateDir, { recursive: true, mode: 0o700 });
    await removeStaleTemps(this.opts.stateDir);
    const restored = new Map<string, CniRecord>();
    const names = (await fs.readdir(this.opts.stateDir)).filter((n) => n.endsWith('.json') && !isTempName(n));
    const work: Array<() => Promise<void>> = [];
    const seen = new Set<string>();
    for (const name of names) {
      const id = name.slice(0, -'.json'.length);
      if (!ID_RE.test(id)) continue;
      seen.add(id);
      work.push(async () => {
        const record = await this.load(id).catch(() => undefined);
        if (!record || record.podId !== id) {
          log.warn({ pod: id }, 'unreadable cni checkpoint left in place');
          return;
        }
        if (known.has(id) && record.phase === 'added') {
          restored.set(id, record);
          return;
        }
        await this.locks
          .run(id, () => this.detachRecord(record))
          .catch((e: unknown) => log.warn({ pod: id, err: errorMessage(e) }, 'cni del at recovery failed'));
      });
    }
    for (const [id, mirror] of known) {
      const record = asCniRecord(mirror);
      if (record && !seen.has(id) && record.podId === id) {
        work.push(() => writeJsonAtomic(this.file(record.podId), record));
      }
    }
    await runLimited(work, 8);
    return restored;
  }
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
