/**
 * The image store behind both the CRI ImageService (`ImageManager`) and the provisioner (`ImageSource`):
 * Mesos' docker and appc stores in one, with one image index and one layer store (paths.ts draws the tree).
 *
 * Pull: the puller for the reference (registry, local directory or appc) plans the image; the layers the
 * store lacks are downloaded and extracted at most `maxConcurrentDownloads` at a time, each once even when
 * several pulls want it; then, under the index lock, the small blobs are written and the index is saved.
 * Until that save the image does not exist, so a pull that fails or is killed leaves at most complete but
 * unreferenced layers, which the next GC removes.
 *
 *   pull ──► plan ──► layers (staging → layers/) ──► blobs ──► index saved ──► image visible
 *                          └──── failure / SIGKILL: GC removes unreferenced layers, staging wiped at start
 *
 * GC removes layers and blobs no image refers to; it waits while pulls run (their layers are not yet
 * referenced), and runs when the last one ends.
 *
 * A pull that makes no progress for `progressTimeoutMs` is cancelled (watchdog.ts); pulls joined to it
 * fail with it.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { promises as fs } from 'node:fs';
import type {
  Credentials,
  ImageFsUsage,
  ImageManager,
  ImageRecord,
  PullProgress,
} from '../../../containerizer/index.js';
import {
  type CredentialLookup,
  digestReference,
  type ImageReference,
  isDigest,
  Limiter,
  type MirrorConfig,
  parseReference,
  type Platform,
  LayerWorkerPool,
  RegistryClient,
  SharedFlight,
  tagReference,
} from '../../../image/index.js';
import {
  fromAbort,
  InvalidArgumentError,
  KeyedLock,
  logger,
  LruMap,
  NotFoundError,
  removeStaleTemps,
  writeFileAtomic,
} from '../../../util/index.js';
import type { ImageLayers, ImageSource } from '../types.js';
import { APPC_PREFIX, AppcPuller, formatAppcReference, parseAppcReference } from './appc-puller.js';
import { pullError } from './errors.js';
import { ImageIndex, type StoredImage } from './image-index.js';
import { LayerStore, SMALL_PULL } from './layer-store.js';
import { LocalPuller } from './local-puller.js';
import type { PullPlan } from './plan.js';
import { StorePaths } from './paths.js';
import { planRegistryPull, resolveTop } from './registry-puller.js';
import { DEFAULT_PULL_PROGRESS_TIMEOUT_MS, ProgressWatchdog } from './watchdog.js';

const log = logger('mesos/store');

export interface ImageStoreOptions {
  /** Store root (`--docker_store_dir`). */
  dir: string;
  /** `--docker_registry`: a registry URL (default Docker Hub) or a local directory (`/…` or `file:///…`). */
  dockerRegistry?: string;
  mirrors?: MirrorConfig;
  insecure?: readonly string[];
  /** Configured credentials per registry host (docker config file, `[registry.auths]`). */
  credentials?: CredentialLookup;
  /** `--image_providers`: which stores serve references (see `classify`). Default docker, appc. */
  providers?: ReadonlyArray<'docker' | 'appc'>;
  /** `--appc_simple_discovery_uri_prefix` (default `http://`). */
  appcPrefix?: string;
  /**
   * Registry layers are downloaded, verified and applied in a worker thread (started when a registry pull
   * arrives, ended 1 s after the last job), keeping the pull's buffers out of the daemon's heap; a small
   * pull's layers that are ready before the thread run on the daemon's thread instead of waiting. Default true.
   */
  layerWorker?: boolean;
  /** Layers downloaded at once per store (default 3). */
  maxConcurrentDownloads?: number;
  /** Platform picked from indexes (default this host). */
  platform?: Platform;
  /** References whose images are reported pinned (the pause image). */
  pinned?: readonly string[];
  /**
   * `image_pull_progress_timeout`: a pull with no progress (bytes downloaded or extracted) for this long is
   * cancelled. Default 5 min; 0 turns it off.
   */
  progressTimeoutMs?: number;
  /**
   * How long complete layers that no image refers to when the store opens are kept (default 15 min): they
   * are what an interrupted pull had finished, and a retried pull uses them instead of fetching them again.
   * Layers released at run time (an image removed, a lease dropped) are collected at once, as before.
   */
  orphanGraceMs?: number;
}

const DEFAULT_ORPHAN_GRACE_MS = 15 * 60_000;

/**
 * Layer worker threads: one per core, at most two. One thread is busy for the whole of a large pull; a second
 * one lets its concurrent layers use the second core (docs/performance.md, "PullImage, phase 12"). Each thread
 * exists only while layers come (LayerWorker), so an idle daemon carries none.
 */
const LAYER_THREADS = Math.min(2, availableParallelism());

type Target = { kind: 'docker'; ref: ImageReference; name: string } | { kind: 'appc'; input: string; name: string };

type Listener = (p: PullProgress) => void;

const DOCKER_HUB = /^https?:\/\/(registry-1|index)\.docker\.io\/?$/;

/**
 * References kept parsed (`classify`): kubelet asks ImageStatus for the same few names over and over, and
 * parsing one is ~50 µs. Bounded: the least recently used goes once full.
 */
const TARGET_CACHE = 256;

/** A stored image as the store hands it out: shared and frozen (see image-index.ts). */
type ImageView = Readonly<ImageRecord & { source: string; layerDigests: string[] }>;

export class ImageStore implements ImageManager, ImageSource {
  private readonly paths: StorePaths;
  private readonly index: ImageIndex;
  private readonly layerStore: LayerStore;
  private readonly lock = new KeyedLock();
  private readonly flights = new SharedFlight<StoredImage>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly limiter: Limiter;
  private readonly client: RegistryClient;
  private readonly local: LocalPuller | undefined;
  private readonly appc: AppcPuller;
  private readonly providers: ReadonlyArray<'docker' | 'appc'>;
  private readonly pinned: Set<string>;
  private readonly blobSizes = new Map<string, number>();
  /** Progress stamps of pulls whose layers wait for a download slot. */
  private readonly queued = new Set<() => void>();
  private running = 0;
  private gcPending = false;
  /** Unreferenced layers found at start-up → when their grace ends (ms since the epoch). */
  private readonly orphans = new Map<string, number>();
  private orphanTimer: NodeJS.Timeout | undefined;
  /** Owners whose lease was taken since the store opened, until leasesRecovered (see retain). */
  private retakenLeases: Set<string> | undefined = new Set();
  /** Parsed references by input (see TARGET_CACHE). */
  private readonly targets = new LruMap<string, Target>(TARGET_CACHE);
  /** The view of each record: records are replaced, never changed, so a view is valid while its record lives. */
  private readonly views = new WeakMap<StoredImage, ImageView>();
  private listed: readonly ImageView[] = [];
  private listedAt = -1;

  private constructor(private readonly opts: ImageStoreOptions) {
    this.paths = new StorePaths(opts.dir);
    this.index = new ImageIndex(this.paths.index);
    this.layerStore = new LayerStore(
      this.paths,
      opts.layerWorker === false ? undefined : new LayerWorkerPool(LAYER_THREADS),
    );
    this.limiter = new Limiter(opts.maxConcurrentDownloads ?? 3);
    const reg = opts.dockerRegistry ?? 'https://registry-1.docker.io';
    const localDir = reg.startsWith('/') ? reg : reg.startsWith('file://') ? new URL(reg).pathname : undefined;
    this.local = localDir === undefined ? undefined : new LocalPuller(localDir, opts.platform);
    const mirrors: Record<string, { endpoints: readonly string[] }> = { ...opts.mirrors };
    // A non-default --docker_registry URL serves unqualified (Docker Hub) names, as in Mesos.
    if (localDir === undefined && !DOCKER_HUB.test(reg) && !mirrors['docker.io'])
      mirrors['docker.io'] = { endpoints: [reg] };
    this.client = new RegistryClient({
      mirrors,
      ...(opts.insecure ? { insecure: opts.insecure } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
    });
    this.appc = new AppcPuller(opts.appcPrefix ?? 'http://', this.paths.stagingDir);
    this.providers = opts.providers ?? ['docker', 'appc'];
    this.pinned = new Set(
      (opts.pinned ?? []).flatMap((r) => {
        try {
          return [this.classify(r).name];
        } catch {
          return [];
        }
      }),
    );
  }

  /**
   * Opens the store and recovers it: staging and gc leftovers removed, index loaded, images whose layers are
   * missing dropped, dangling leases dropped, unreferenced layers and blobs collected.
   */
  static async open(opts: ImageStoreOptions): Promise<ImageStore> {
    const store = new ImageStore(opts);
    await store.recover();
    return store;
  }

  private async recover(): Promise<void> {
    await fs.mkdir(this.paths.blobsDir, { recursive: true, mode: 0o700 });
    await removeStaleTemps(this.paths.root);
    await removeStaleTemps(this.paths.blobsDir);
    await this.layerStore.recover();
    await this.index.load();
    let changed = false;
    for (const img of this.index.all()) {
      const missing = img.layers.filter((l) => !this.layerStore.has(l));
      if (missing.length > 0) {
        log.warn({ image: img.id, missing }, 'dropping image whose layers are missing; pull it again');
        this.index.delete(img.id);
        changed = true;
      }
    }
    for (const owner of this.index.danglingLeases()) {
      this.index.dropLease(owner);
      changed = true;
    }
    if (changed) await this.index.save();
    for (const name of await fs.readdir(this.paths.blobsDir)) {
      const st = await fs.stat(`${this.paths.blobsDir}/${name}`);
      this.blobSizes.set(`sha256:${name}`, st.size);
    }
    const referenced = this.index.referencedLayers();
    const graceEnd = Date.now() + (this.opts.orphanGraceMs ?? DEFAULT_ORPHAN_GRACE_MS);
    for (const l of this.layerStore.all()) if (!referenced.has(l.diffId)) this.orphans.set(l.diffId, graceEnd);
    if (this.orphans.size > 0)
      log.info({ layers: this.orphans.size }, 'keeping layers of interrupted pulls for a retry');
    await this.collect();
    log.info({ images: this.index.all().length, layers: this.layerStore.all().length }, 'image store recovered');
  }

  /**
   * Which store serves a reference: `appc:<name>[:<version>]` → appc; anything else → docker while the
   * docker provider is enabled, else appc (an appc-only configuration takes bare names).
   */
  private classify(input: string): Target {
    const hit = this.targets.get(input);
    if (hit) return hit;
    const target = this.parseTarget(input);
    this.targets.set(input, target);
    return target;
  }

  /** classify without the cache; the result is frozen, since the cache shares it. Throws on a bad reference. */
  private parseTarget(input: string): Target {
    const appcOn = this.providers.includes('appc');
    if (input.startsWith(APPC_PREFIX) || (!this.providers.includes('docker') && appcOn)) {
      if (!appcOn) throw new InvalidArgumentError(`image "${input}": the appc image provider is not enabled`);
      return Object.freeze({ kind: 'appc', input, name: formatAppcReference(parseAppcReference(input)) });
    }
    if (!this.providers.includes('docker')) {
      throw new InvalidArgumentError(`image "${input}": the docker image provider is not enabled`);
    }
    const ref = Object.freeze(parseReference(input));
    const name = ref.digest !== undefined ? digestReference(ref, ref.digest) : tagReference(ref)!;
    return Object.freeze({ kind: 'docker', ref, name });
  }

  async pull(
    input: string,
    opts: { credentials?: Credentials; signal?: AbortSignal; onProgress?: (p: PullProgress) => void } = {},
  ): Promise<ImageRecord> {
    const target = this.classify(input);
    // Pulls with different credentials never share a flight: one caller must not get an image its own
    // credentials could not fetch.
    const creds = createHash('sha256')
      .update(JSON.stringify(opts.credentials ?? {}))
      .digest('hex')
      .slice(0, 16);
    const key = `${target.name}|${creds}`;
    let set = this.listeners.get(key);
    if (!set) {
      set = new Set();
      this.listeners.set(key, set);
    }
    const listener = opts.onProgress;
    if (listener) set.add(listener);
    try {
      const img = await this.flights.do(
        key,
        (signal) => this.pullOnce(target, opts.credentials, signal, (p) => this.emit(key, p)),
        opts.signal,
      );
      return this.view(img);
    } finally {
      if (listener) set.delete(listener);
      if (set.size === 0 && !this.flights.has(key)) this.listeners.delete(key);
    }
  }

  private emit(key: string, p: PullProgress): void {
    for (const l of this.listeners.get(key) ?? []) {
      try {
        l({ ...p });
      } catch (err) {
        log.warn({ err }, 'progress listener failed');
      }
    }
  }

  private async pullOnce(
    target: Target,
    credentials: Credentials | undefined,
    flightSignal: AbortSignal,
    report: (p: PullProgress) => void,
  ): Promise<StoredImage> {
    this.running++;
    let cleanup: (() => Promise<void>) | undefined;
    const watchdog = new ProgressWatchdog(
      this.opts.progressTimeoutMs ?? DEFAULT_PULL_PROGRESS_TIMEOUT_MS,
      `image "${target.name}"`,
    );
    const signal = AbortSignal.any([flightSignal, watchdog.signal]);
    const progress = (p: PullProgress): void => {
      watchdog.touch();
      report(p);
    };
    const touch = (): void => watchdog.touch();
    try {
      progress({ phase: 'resolving', downloadedBytes: 0, totalBytes: 0, extractedLayers: 0, totalLayers: 0 });
      let plan: PullPlan;
      if (target.kind === 'appc') {
        const r = await this.appc.plan(target.input, signal, touch);
        plan = r.plan;
        cleanup = r.cleanup;
      } else if (this.local) {
        plan = await this.local.plan(target.ref);
      } else {
        // The worker thread starts while the manifests are fetched, not when the first layer wants it; not for
        // a name already stored whole (kubelet's `Always` re-pulls), which most likely fetches no layer: if
        // its tag moved, the first layer starts the thread (and runs here meanwhile).
        const stored = this.index.byName(target.name);
        if (!stored?.layers.every((l) => this.layerStore.has(l))) this.layerStore.warmWorker();
        const auth = credentials ? toImageCredentials(credentials) : undefined;
        const req = { signal, ...(auth ? { auth } : {}) };
        const top = await resolveTop(this.client, target.ref, req);
        const have = this.index.byName(digestReference(target.ref, top.digest));
        if (have?.layers.every((l) => this.layerStore.has(l))) {
          // Same manifest as stored: only the names may have moved.
          const tag = tagReference(target.ref);
          const names = { repoTags: tag && target.ref.digest === undefined ? [tag] : [], repoDigests: [] };
          const img = await this.commit({ ...have, ...names, pinned: false }, []);
          progress({ phase: 'done', downloadedBytes: 0, totalBytes: 0, extractedLayers: 0, totalLayers: 0 });
          return img;
        }
        plan = await planRegistryPull(this.client, target.ref, {
          ...req,
          ...(this.opts.platform ? { platform: this.opts.platform } : {}),
          ...(top.manifest ? { top: top.manifest } : {}),
        });
      }
      return await this.execute(plan, signal, progress, touch);
    } catch (err) {
      throw pullError(fromAbort(err, signal), `image "${target.name}"`);
    } finally {
      watchdog.stop();
      await cleanup?.();
      this.running--;
      if (this.running === 0 && this.gcPending) {
        await this.lock.run('index', () => this.collect()).catch((err: unknown) => log.warn({ err }, 'gc failed'));
      }
    }
  }

  /** Downloads and extracts what the store lacks, then commits the image. */
  private async execute(
    plan: PullPlan,
    signal: AbortSignal,
    progress: (p: PullProgress) => void,
    touch: () => void,
  ): Promise<StoredImage> {
    const missing = plan.layers.filter((l) => l.diffId === undefined || !this.layerStore.has(l.diffId));
    const p: PullProgress = {
      phase: 'downloading',
      downloadedBytes: 0,
      totalBytes: missing.reduce((n, l) => n + l.size, 0),
      extractedLayers: plan.layers.length - missing.length,
      totalLayers: plan.layers.length,
    };
    progress(p);
    // Progress is reported per percent of bytes, not per chunk, so a watcher is never flooded.
    let reported = 0;
    const onBytes = (n: number): void => {
      touch();
      for (const q of this.queued) q();
      p.downloadedBytes += n;
      if (p.downloadedBytes >= p.totalBytes) p.phase = 'extracting';
      if (p.totalBytes === 0 || (p.downloadedBytes - reported) * 100 >= p.totalBytes) {
        reported = p.downloadedBytes;
        progress(p);
      }
    };
    // The small blobs (manifest, config) are written while the layers download: content-addressed files that
    // no index entry names until the commit, so a failed pull leaves them, like its complete layers, to the
    // next GC (at the latest the one at start-up).
    const blobsWritten = this.writeBlobs(plan.blobs);
    // The first layer that fails stops the others, and the pull fails only once all have wound down, so a
    // failed pull leaves no staging directory behind (complete layers stay for a retry, see layer-store.ts).
    const stop = new AbortController();
    const layerSignal = AbortSignal.any([signal, stop.signal]);
    let first: unknown;
    const settled = await Promise.allSettled(
      plan.layers.map(async (l, i) => {
        if (l.diffId !== undefined && this.layerStore.has(l.diffId)) return l.diffId;
        const what = `layer ${i + 1}/${plan.layers.length} of image "${plan.id}"`;
        // Queued behind other pulls' downloads, their progress counts as this pull's.
        const waiting = (): void => touch();
        this.queued.add(waiting);
        try {
          // The download slot is held until the layer's content is on disk, not while it is made durable
          // and renamed (disk waits): the next download starts meanwhile.
          const { done } = await this.limiter.run(async () => {
            this.queued.delete(waiting);
            const key = `${plan.id}#${i}`;
            let onApplied: () => void = () => undefined;
            const applied = new Promise<void>((resolve) => {
              onApplied = resolve;
            });
            const ensured = this.layerStore.ensure(l.diffId, l.open, {
              ...(l.remote ? { remote: l.remote, small: p.totalBytes <= SMALL_PULL } : {}),
              signal: layerSignal,
              key,
              what,
              onBytes,
              onApplied,
            });
            await Promise.race([applied, ensured.then(noop, noop)]);
            return { done: ensured };
          }, layerSignal);
          const info = await done;
          p.extractedLayers++;
          progress(p);
          return info.diffId;
        } catch (err) {
          first ??= err;
          stop.abort(err);
          throw err;
        } finally {
          this.queued.delete(waiting);
        }
      }),
    );
    const blobs = await blobsWritten;
    if (first !== undefined) throw first;
    if (blobs.status === 'rejected') throw blobs.reason;
    const diffIds = settled.map((r) => (r as PromiseFulfilledResult<string>).value);
    const record: StoredImage = {
      id: plan.id,
      repoTags: plan.repoTags,
      repoDigests: plan.repoDigests,
      size: plan.size > 0 ? plan.size : plan.layers.reduce((n, l) => n + l.size, 0),
      config: plan.config,
      kind: plan.kind,
      pinned: false,
      layers: diffIds,
      manifestDigest: plan.manifestDigest,
      pulledAt: Date.now(),
      blobs: plan.blobs.map((b) => b.digest),
      layerDigests: plan.layerDigests,
      source: plan.source,
    };
    const img = await this.commit(record, record.blobs);
    progress({ ...p, phase: 'done' });
    return img;
  }

  /**
   * Writes the small blobs the store lacks (atomically, durably, at once), settling only when every write has;
   * never rejects: the outcome is returned. A pull holds `running` until its commit, so no GC removes them
   * in between.
   */
  private async writeBlobs(blobs: PullPlan['blobs']): Promise<PromiseSettledResult<void>> {
    const results = await Promise.allSettled(
      blobs.map(async (b) => {
        if (this.blobSizes.has(b.digest)) return;
        await writeFileAtomic(this.paths.blob(b.digest), b.bytes, 0o600);
        this.blobSizes.set(b.digest, b.bytes.length);
      }),
    );
    return results.find((r) => r.status === 'rejected') ?? { status: 'fulfilled', value: undefined };
  }

  /**
   * Saves the record under the index lock once the pull's blobs (`written`) are stored (writeBlobs); names
   * move from other images (moved tags).
   */
  private commit(record: StoredImage, written: readonly string[]): Promise<StoredImage> {
    return this.mutate(async () => {
      for (const b of written) {
        if (!this.blobSizes.has(b)) throw new NotFoundError(`blob "${b}" vanished during the pull; pull again`);
      }
      for (const l of record.layers) {
        if (!this.layerStore.has(l)) throw new NotFoundError(`layer "${l}" vanished during the pull; pull again`);
      }
      for (const orphan of this.index.put(record)) this.dropIfUnused(orphan);
      return this.index.byId(record.id)!;
    });
  }

  /** Runs a mutation of the index under its lock and saves; on a failed save the disk state is reloaded. */
  private mutate<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run('index', async () => {
      try {
        const out = await fn();
        await this.index.save();
        return out;
      } catch (err) {
        await this.index.load().catch(() => undefined);
        throw pullError(err, 'the image index');
      }
    });
  }

  private dropIfUnused(id: string): void {
    if (!this.index.named(id) && !this.index.leased(id)) {
      this.index.delete(id);
      this.gcPending = true;
    }
  }

  /** GC under the index lock: layers and blobs no image refers to. Deferred while pulls run. */
  private async collect(): Promise<void> {
    if (this.running > 0) {
      this.gcPending = true;
      return;
    }
    this.gcPending = false;
    const layers = this.index.referencedLayers();
    const now = Date.now();
    for (const l of this.layerStore.all()) {
      const graceEnd = this.orphans.get(l.diffId);
      if (layers.has(l.diffId) || (graceEnd !== undefined && graceEnd > now)) continue;
      this.orphans.delete(l.diffId);
      log.debug({ layer: l.diffId }, 'removing unused layer');
      await this.layerStore.remove(l.diffId);
    }
    this.armOrphanTimer(layers);
    const blobs = this.index.referencedBlobs();
    for (const digest of [...this.blobSizes.keys()]) {
      if (blobs.has(digest)) continue;
      this.blobSizes.delete(digest);
      await fs.rm(this.paths.blob(digest), { force: true });
    }
  }

  /**
   * Start-up orphans that a pull has since taken up need no grace any more; for the others, one timer runs the
   * GC when the first grace ends (unref'd: it never keeps the daemon alive).
   */
  private armOrphanTimer(referenced: Set<string>): void {
    for (const id of this.orphans.keys()) if (referenced.has(id) || !this.layerStore.has(id)) this.orphans.delete(id);
    clearTimeout(this.orphanTimer);
    this.orphanTimer = undefined;
    if (this.orphans.size === 0) return;
    const due = Math.max(0, Math.min(...this.orphans.values()) - Date.now());
    this.orphanTimer = setTimeout(() => {
      this.orphanTimer = undefined;
      this.lock.run('index', () => this.collect()).catch((err: unknown) => log.warn({ err }, 'gc failed'));
    }, due + 10);
    this.orphanTimer.unref();
  }

  /** Finds a visible image by id, unique id prefix, reference or digest reference. */
  private find(refOrId: string): StoredImage | undefined {
    if (isDigest(refOrId)) {
      const img = this.index.byId(refOrId);
      if (img && this.index.named(img.id)) return img;
    }
    try {
      const img = this.index.byName(this.classify(refOrId).name);
      if (img) return img;
    } catch {
      // not a reference
    }
    if (/^(sha256:)?[a-f0-9]{3,64}$/.test(refOrId)) {
      const matches = this.index.byIdPrefix(refOrId);
      if (matches.length === 1) return matches[0];
    }
    return undefined;
  }

  /**
   * The record as callers see it (`pinned` includes the configured pinned names). Shared and frozen, not copied
   * per call: ImageStatus and ListImages are kubelet's most frequent image calls.
   */
  private view(img: StoredImage): ImageView {
    let v = this.views.get(img);
    if (!v) {
      const pinned = img.pinned || img.repoTags.some((t) => this.pinned.has(t));
      v = Object.freeze({ ...img, pinned });
      this.views.set(img, v);
    }
    return v;
  }

  async get(refOrId: string): Promise<ImageRecord | undefined> {
    const img = this.find(refOrId);
    return img ? this.view(img) : undefined;
  }

  async list(): Promise<ImageRecord[]> {
    if (this.listedAt !== this.index.version) {
      this.listed = Object.freeze(this.index.visible().map((i) => this.view(i)));
      this.listedAt = this.index.version;
    }
    // The caller owns the array (ListImages sorts it); the records in it are shared.
    return [...this.listed];
  }

  async remove(refOrId: string): Promise<void> {
    await this.mutate(async () => {
      const img = this.find(refOrId);
      if (!img) return;
      let byName: string | undefined;
      try {
        byName = this.classify(refOrId).name;
      } catch {
        byName = undefined;
      }
      if (byName !== undefined && this.index.byName(byName)?.id === img.id) {
        this.index.removeName(byName);
        // An image whose last tag is removed goes, digests and all (`crictl rmi busybox` leaves no
        // `<none>` image behind), as users of containerd and CRI-O expect; other tags keep it. The record
        // is read again: a change replaces it (image-index.ts), `img` is the one from before.
        if (this.index.byId(img.id)?.repoTags.length === 0) this.index.removeNames(img.id);
      } else this.index.removeNames(img.id);
      this.dropIfUnused(img.id);
      if (this.gcPending) await this.collect();
    });
  }

  async fsInfo(): Promise<ImageFsUsage> {
    const layers = this.layerStore.totals();
    let blobBytes = 0;
    for (const n of this.blobSizes.values()) blobBytes += n;
    // du-style: the store's fixed directories and the index count too.
    const fixed = 6;
    return {
      mountpoint: this.paths.root,
      usedBytes: layers.bytes + blobBytes + fixed * 4096,
      inodesUsed: layers.inodes + this.blobSizes.size + fixed + 1,
      timestampNs: BigInt(Date.now()) * 1_000_000n,
    };
  }

  async layers(imageId: string): Promise<ImageLayers> {
    const img = this.index.byId(imageId);
    if (!img) throw new NotFoundError(`image "${imageId}" not found`);
    return {
      imageId: img.id,
      kind: img.kind,
      config: structuredClone(img.config),
      layerDirs: img.layers.map((l) => this.layerStore.rootfs(l)),
    };
  }

  /**
   * Leases live in memory and are not written per call: the provisioner's own durable records say which
   * container uses which image, and it takes every lease again at start-up (then calls leasesRecovered). The
   * index file may still hold leases from the last save; they only count until leasesRecovered.
   */
  async retain(owner: string, imageId: string): Promise<void> {
    await this.lock.run('index', async () => {
      if (!this.index.byId(imageId)) throw new NotFoundError(`image "${imageId}" not found`);
      this.index.setLease(owner, imageId);
      this.retakenLeases?.add(owner);
    });
  }

  async release(owner: string): Promise<void> {
    if (this.index.lease(owner) === undefined) return;
    await this.lock.run('index', async () => {
      const id = this.index.dropLease(owner);
      if (id === undefined) return;
      this.retakenLeases?.delete(owner);
      this.dropIfUnused(id);
      // Only an image that went with its last lease changes the file.
      if (this.gcPending) await this.saveAndCollect();
    });
  }

  /**
   * The provisioner has taken again the lease of every container it keeps: every other lease (left in the
   * index file by an older version, or by containers that are gone) ends, and images nothing holds any more
   * go with their layers, as a release at run time does.
   */
  async leasesRecovered(): Promise<void> {
    await this.lock.run('index', async () => {
      const retaken = this.retakenLeases;
      this.retakenLeases = undefined;
      if (!retaken) return;
      for (const owner of this.index.leaseOwners()) {
        if (retaken.has(owner)) continue;
        const id = this.index.dropLease(owner);
        if (id !== undefined) this.dropIfUnused(id);
      }
      for (const img of this.index.all()) this.dropIfUnused(img.id);
      if (this.gcPending) await this.saveAndCollect();
    });
  }

  /** Saves the index, then collects what it no longer refers to; on a failed save the disk state is reloaded. */
  private async saveAndCollect(): Promise<void> {
    try {
      await this.index.save();
    } catch (err) {
      await this.index.load().catch(() => undefined);
      throw pullError(err, 'the image index');
    }
    await this.collect();
  }
}

function noop(): void {}

/** CRI AuthConfig fields as pkg/image takes them (empty strings dropped). */
function toImageCredentials(c: Credentials): import('../../../image/index.js').Credentials {
  const out: import('../../../image/index.js').Credentials = {};
  if (c.username) out.username = c.username;
  if (c.password) out.password = c.password;
  if (c.auth) out.auth = c.auth;
  if (c.identityToken) out.identityToken = c.identityToken;
  if (c.registryToken) out.registryToken = c.registryToken;
  return out;
}
