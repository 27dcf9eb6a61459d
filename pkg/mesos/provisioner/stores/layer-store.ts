/**
 * The layer store: each layer extracted once, in overlay form, under `layers/<diff_id hex>/rootfs`, and shared
 * by every image that has it. An extraction runs in `staging/<random>` and is renamed into place only when
 * complete and verified against its diff_id, so `layers/` never holds a partial layer, even after SIGKILL.
 * Concurrent requests for one layer share one extraction (SharedFlight).
 */
import { randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  type ApplyResult,
  applyLayer,
  isDigest,
  type LayerApplier,
  type RemoteBlob,
  SharedFlight,
} from '../../../image/index.js';
import { markTopDir } from '../../../sys/index.js';
import { fromAbort, logger, readJson, writeJsonAtomic } from '../../../util/index.js';
import { counting } from './counting-relay.js';
import { pullError } from './errors.js';
import type { StorePaths } from './paths.js';

const log = logger('mesos/store/layers');

/**
 * Bytes to download (compressed) up to which a pull's registry layers are applied on the daemon's thread when the
 * worker's thread is not ready yet, rather than waiting for it (busybox and pause are 0.3–2 MB).
 */
export const SMALL_PULL = 4 * 1024 * 1024;

/** What the store knows about one extracted layer. */
export interface LayerInfo {
  diffId: string;
  /** Disk usage of the extracted tree (allocated blocks, hard links counted once). */
  bytes: number;
  inodes: number;
}

/** Opens the (possibly compressed) layer tar; called at most once per extraction. */
export type LayerOpener = (signal: AbortSignal) => Promise<Readable>;

/** Describes the layer's blob for the layer worker, which fetches it itself (registry layers only). */
export type RemoteOpener = (signal: AbortSignal) => Promise<RemoteBlob>;

export class LayerStore {
  private readonly layers = new Map<string, LayerInfo>();
  private readonly flights = new SharedFlight<LayerInfo>();
  /** Per flight key: the byte counters of every pull waiting on that extraction (joined ones included). */
  private readonly watchers = new Map<string, Set<(n: number) => void>>();
  /** Per flight key: who wants to hear that the layer's content is on disk (see `ensure`'s onApplied). */
  private readonly appliedWaiters = new Map<string, Set<() => void>>();

  /**
   * Registry layers are fetched and applied in a worker thread when there is one (pkg/image LayerWorker) and
   * its thread is ready; until then a small pull's layers (SMALL_PULL) are applied on this thread, a large
   * pull's wait.
   */
  constructor(
    private readonly paths: StorePaths,
    private readonly worker?: LayerApplier,
  ) {}

  /**
   * Start-up: creates the tree, wipes staging and gc leftovers of an interrupted run, and loads every complete
   * layer. A layer directory without a valid layer.json cannot come from a completed rename: it is removed.
   */
  async recover(): Promise<void> {
    for (const dir of [this.paths.layersDir, this.paths.stagingDir, this.paths.gcDir]) {
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    }
    // Each layer's extraction dir a block group of its own on ext2/3/4: not the one where the layer removed
    // just before had its files (pkg/sys markTopDir).
    await markTopDir(this.paths.stagingDir);
    for (const dir of [this.paths.stagingDir, this.paths.gcDir]) {
      for (const name of await fsp.readdir(dir)) {
        log.info({ name, dir }, 'removing leftover of an interrupted run');
        await fsp.rm(path.join(dir, name), { recursive: true, force: true });
      }
    }
    this.layers.clear();
    for (const name of await fsp.readdir(this.paths.layersDir)) {
      const diffId = `sha256:${name}`;
      const meta = isDigest(diffId)
        ? ((await readJson(this.paths.layerMeta(diffId)).catch(() => undefined)) as LayerInfo | undefined)
        : undefined;
      if (meta?.diffId === diffId && Number.isFinite(meta.bytes) && Number.isFinite(meta.inodes)) {
        this.layers.set(diffId, { diffId, bytes: meta.bytes, inodes: meta.inodes });
      } else {
        log.warn({ name }, 'removing an unreadable layer directory');
        await this.discard(path.join(this.paths.layersDir, name));
      }
    }
  }

  /**
   * Starts the layer worker's thread (if there is a worker and it is not running) so that it is ready by the
   * time a registry pull's layers are planned; it ends after its idle time if no layer comes.
   */
  warmWorker(): void {
    this.worker?.warm();
  }

  has(diffId: string): boolean {
    return this.layers.has(diffId);
  }

  get(diffId: string): LayerInfo | undefined {
    return this.layers.get(diffId);
  }

  /** Every stored layer. */
  all(): LayerInfo[] {
    return [...this.layers.values()];
  }

  /** The extracted tree of a stored layer. */
  rootfs(diffId: string): string {
    return this.paths.layerRootfs(diffId);
  }

  /**
   * Makes sure the layer `diffId` is stored, extracting it from `open()` if it is not. With `diffId`
   * undefined (ACI rootfs: the digest is only known after reading), `key` dedupes concurrent extractions
   * and the computed diff_id names the layer. `onBytes` hears every downloaded chunk of the extraction, also
   * when this caller joined one another pull started. `onApplied` is called once the content is downloaded,
   * verified and written to staging, before the layer is made durable and renamed into place (what remains is
   * waiting for the disk, so a caller may start its next download then); it may not be called at all (the
   * layer was already there, or the extraction failed). Errors leave nothing under layers/ or staging/.
   */
  async ensure(
    diffId: string | undefined,
    open: LayerOpener,
    opts: {
      signal?: AbortSignal;
      key?: string;
      what?: string;
      onBytes?: (n: number) => void;
      onApplied?: () => void;
      /** When set, the layer worker fetches and applies the blob; `open` is the fallback. */
      remote?: RemoteOpener;
      /**
       * The layer belongs to a small pull (SMALL_PULL): it does not wait for the worker's thread to start but
       * runs here if the thread is not ready.
       */
      small?: boolean;
    } = {},
  ): Promise<LayerInfo> {
    if (diffId !== undefined) {
      const have = this.layers.get(diffId);
      if (have) return have;
    }
    const key = diffId ?? opts.key ?? randomBytes(8).toString('hex');
    const onBytes = opts.onBytes;
    let set = this.watchers.get(key);
    if (onBytes) {
      if (!set) {
        set = new Set();
        this.watchers.set(key, set);
      }
      set.add(onBytes);
    }
    const onApplied = opts.onApplied;
    let applied = this.appliedWaiters.get(key);
    if (onApplied) {
      if (!applied) {
        applied = new Set();
        this.appliedWaiters.set(key, applied);
      }
      applied.add(onApplied);
    }
    const count = (n: number): void => {
      for (const w of this.watchers.get(key) ?? []) w(n);
    };
    const counted: LayerOpener = async (signal) => counting(await open(signal), count);
    try {
      return await this.flights.do(
        key,
        (signal) =>
          this.extract(
            diffId,
            counted,
            signal,
            opts.what ?? `layer "${key}"`,
            () => {
              for (const w of this.appliedWaiters.get(key) ?? []) w();
            },
            opts.remote && { open: opts.remote, onBytes: count, small: opts.small === true },
          ),
        opts.signal,
      );
    } finally {
      if (onApplied && applied) {
        applied.delete(onApplied);
        if (applied.size === 0 && this.appliedWaiters.get(key) === applied) this.appliedWaiters.delete(key);
      }
      if (onBytes && set) {
        set.delete(onBytes);
        if (set.size === 0 && this.watchers.get(key) === set) this.watchers.delete(key);
      }
    }
  }

  private async extract(
    diffId: string | undefined,
    open: LayerOpener,
    signal: AbortSignal,
    what: string,
    onApplied: () => void,
    remote?: { open: RemoteOpener; onBytes: (n: number) => void; small: boolean },
  ): Promise<LayerInfo> {
    if (diffId !== undefined) {
      const have = this.layers.get(diffId);
      if (have) return have;
    }
    const staging = path.join(this.paths.stagingDir, randomBytes(12).toString('hex'));
    try {
      await fsp.mkdir(path.join(staging, 'rootfs'), { recursive: true, mode: 0o755 });
      const rootfs = path.join(staging, 'rootfs');
      const apply = { format: 'overlay' as const, signal, ...(diffId === undefined ? {} : { diffId }) };
      let applied: ApplyResult | undefined;
      // Where the layer's time went, logged at debug (`--trace mesos/store/layers`): the critical path of a pull.
      const t0 = performance.now();
      let timing: Record<string, number | string> = { on: 'main' };
      // The worker settles only once it no longer writes to staging, so the discard below is safe after it.
      // A small pull's layer does not wait for a thread that is still starting (100–600 ms): it runs here with
      // the same code and checks. A large pull's layers wait: on this thread they cost more than the start-up
      // (measured in docs/performance.md, "Image service, phase 6b").
      if (remote && this.worker && (this.worker.ready || !remote.small)) {
        applied = await this.worker.apply(await remote.open(signal), rootfs, {
          ...apply,
          small: remote.small,
          onBytes: remote.onBytes,
          onTiming: (t) => {
            timing = { on: 'worker', ...t };
          },
        });
      } else if (remote) this.worker?.warm();
      applied ??= await applyLayer(await open(signal), rootfs, apply);
      const id = applied.diffId;
      const appliedAt = performance.now();
      if (applied.skippedXattr) log.warn({ ...applied.skippedXattr, what }, 'xattr not supported here; skipped');
      onApplied();
      const existing = this.layers.get(id);
      if (existing) {
        await this.discard(staging);
        return existing;
      }
      const usage = measure(path.join(staging, 'rootfs'));
      const info: LayerInfo = { diffId: id, bytes: usage.bytes, inodes: usage.inodes };
      await writeJsonAtomic(path.join(staging, 'layer.json'), info);
      await fsp.rename(staging, this.paths.layer(id));
      this.layers.set(id, info);
      log.debug(
        {
          diffId: id,
          bytes: info.bytes,
          entries: applied.entries,
          ...timing,
          appliedMs: Math.round(appliedAt - t0),
          storedMs: Math.round(performance.now() - t0),
        },
        'layer stored',
      );
      return info;
    } catch (err) {
      await this.discard(staging);
      throw pullError(fromAbort(err, signal), what);
    }
  }

  /**
   * Deletes a layer: renamed into gc/ first (atomic), then removed, so a crash mid-delete never leaves a
   * partial layer under layers/. The caller has made sure no image or lease refers to it.
   */
  async remove(diffId: string): Promise<void> {
    if (!this.layers.delete(diffId)) return;
    const dir = this.paths.layer(diffId);
    const trash = path.join(this.paths.gcDir, randomBytes(12).toString('hex'));
    try {
      await fsp.rename(dir, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await this.discard(trash);
  }

  /** Total usage of all stored layers. */
  totals(): { bytes: number; inodes: number } {
    let bytes = 0;
    let inodes = 0;
    for (const l of this.layers.values()) {
      bytes += l.bytes;
      inodes += l.inodes;
    }
    return { bytes, inodes };
  }

  private async discard(dir: string): Promise<void> {
    await fsp.rm(dir, { recursive: true, force: true }).catch((err: unknown) => {
      log.warn({ dir, err }, 'could not remove directory');
    });
  }
}

/**
 * Disk usage of a tree as `du` counts it: allocated blocks, each inode once. Runs once per layer, right after
 * extraction, so ImageFsInfo never walks the store.
 */
export function measure(root: string): { bytes: number; inodes: number } {
  const seen = new Set<string>();
  let bytes = 0;
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const st = fs.lstatSync(dir, { bigint: false });
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) continue;
    seen.add(key);
    bytes += st.blocks * 512;
    if (!st.isDirectory()) continue;
    for (const name of fs.readdirSync(dir)) stack.push(path.join(dir, name));
  }
  return { bytes, inodes: seen.size };
}
