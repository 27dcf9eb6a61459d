/**
 * The Mesos provisioner (Mesos `Provisioner`, provisioner/provisioner.cpp): per container, it leases an image
 * from an ImageSource, asks one backend to build the rootfs from the image's layer dirs, and checkpoints
 * what it built so that a restarted daemon finds it again (see paths.ts for the layout).
 *
 * Per container:
 *
 *   (none) ──provision──► PROVISIONING ──record written──► PROVISIONED ──destroy──► (none)
 *                              │ any failure: unmount, rm -rf, release the lease
 *                              ▼
 *                           (none)
 *
 * Each container id has its own lock (the Mesos actor's role): provision, destroy and recovery of one id
 * never interleave, different ids never wait for each other.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod/mini';
import type { ImageConfig } from '../../containerizer/index.js';
import { clearMountsUnder, diskUsage, markTopDir } from '../../sys/index.js';
import {
  AlreadyExistsError,
  costOf,
  errorMessage,
  FailedPreconditionError,
  fromAbort,
  InternalError,
  KeyedLock,
  logger,
  mkdirOnceSync,
  NotFoundError,
  readJson,
  removeStaleTemps,
  removeTree,
  settleAll,
  syncFile,
  writeJsonAtomic,
  writeJsonReplaceSync,
} from '../../util/index.js';
import {
  BackendChooser,
  type BackendChoice,
  backendOf,
  type OverlaySupport,
  parseBackendChoice,
} from './backends/index.js';
import { checkContainerId, PROBE_PREFIX, ProvisionerPaths } from './paths.js';
import { OverlaySpares, SPARE_PREFIX } from './spares.js';
import type { BackendName, ImageLayers, ImageSource, Provisioned, Provisioner, ProvisionOptions } from './types.js';

/** Looked up per use, so a later configureLogging (daemon start-up, silent tests) takes effect. */
const log = () => logger('mesos/provisioner');

export interface MesosProvisionerOptions {
  /** The agent work dir (`--work_dir`); state goes under `<workDir>/provisioner`. Absolute. */
  workDir: string;
  /** `--container_store_dir`: the containers' dirs (writable layers); default `<workDir>/provisioner/containers`. */
  containerStoreDir?: string;
  /** The image stores, as one source of layer dirs and leases. */
  source: ImageSource;
  /** `--image_provisioner_backend`: overlay (default), copy, bind or auto. `aufs` is refused. */
  backend?: string;
  /** How long a usage() answer is reused, in ms (default 2000): stats are polled, walks are not free. */
  usageCacheMs?: number;
  /**
   * How many overlay rootfses' dirs to keep made ahead in the background (spares.ts), so that a provision
   * moves them into place with one rename; 0 (default) makes them on the provision's path.
   */
  spares?: number;
}

const recordSchema = z.object({
  version: z.literal(1),
  containerId: z.string(),
  backend: z.enum(['overlay', 'copy', 'bind']),
  rootfsId: z.string(),
  rootfs: z.string(),
  writableDir: z.optional(z.string()),
  image: z.object({
    imageId: z.string(),
    kind: z.enum(['docker', 'appc']),
    config: z.looseObject({}),
    layerDirs: z.array(z.string()).check(z.minLength(1)),
  }),
});

/** The checkpoint of one provisioned rootfs (`containers/<id>/record.json`). */
type ProvisionRecord = z.infer<typeof recordSchema>;

/** A writable layer's size as du counts it, and where it is. */
export interface WritableUsage {
  bytes: number;
  inodes: number;
  mountpoint: string;
}
type Usage = WritableUsage;

function provisioned(r: ProvisionRecord): Provisioned {
  const image: ImageLayers = { ...r.image, config: r.image.config as unknown as ImageConfig };
  const out: Provisioned = { rootfs: r.rootfs, backend: r.backend, image };
  if (r.writableDir !== undefined) out.writableDir = r.writableDir;
  return out;
}

/** The Provisioner of the Mesos containerizer over any ImageSource. */
export class MesosProvisioner implements Provisioner {
  /** The configured choice (`auto` is resolved per container). */
  readonly backend: BackendChoice;
  private readonly paths: ProvisionerPaths;
  private readonly source: ImageSource;
  private readonly chooser: BackendChooser;
  private readonly usageCacheMs: number;
  private readonly lock = new KeyedLock();
  private readonly records = new Map<string, ProvisionRecord>();
  /** Ids provisioned by this process with `deferMount` and not mounted since: `mount` needs no mount table. */
  private readonly unmounted = new Set<string>();
  private readonly usages = new Map<string, { at: number; value: Usage }>();
  private initialized: Promise<void> | undefined;
  /** Set while watchUsage runs: usage() answers from its passes and never walks on a call. */
  private watch: { timer?: NodeJS.Timeout; stopped: boolean } | undefined;
  private readonly spares: OverlaySpares | undefined;

  /** Throws InvalidArgumentError / FailedPreconditionError (aufs) for a bad backend or work dir. */
  constructor(opts: MesosProvisionerOptions) {
    this.backend = parseBackendChoice(opts.backend ?? 'overlay');
    this.paths = new ProvisionerPaths(opts.workDir, opts.containerStoreDir);
    this.source = opts.source;
    // Probed where the upper dirs go: the container store may be another filesystem than the work dir.
    this.chooser = new BackendChooser(this.paths.containersDir, this.paths.probePrefix);
    this.usageCacheMs = opts.usageCacheMs ?? 2000;
    const spares = opts.spares ?? 0;
    if (spares > 0) this.spares = new OverlaySpares(this.paths.containersDir, spares);
  }

  /** Whether overlay works on this work dir (probed once; what `auto` goes by). */
  async overlaySupport(): Promise<OverlaySupport> {
    await this.init();
    return this.chooser.overlaySupport();
  }

  /**
   * Keeps and re-mounts the rootfses of `known` ids, destroys every other one and every unfinished provision.
   * A known rootfs that cannot be re-mounted is logged and kept (its record stays, so destroy still works):
   * one broken container must not keep the daemon from starting. The rootfses of `opts.unmounted` (created
   * containers, not started) are kept as they are, mounted or not: `mount` mounts them when they start.
   */
  async recover(known: readonly string[], opts: { unmounted?: readonly string[] } = {}): Promise<void> {
    await this.init();
    const keep = new Set(known);
    const leave = new Set(opts.unmounted ?? []);
    // Spares on disk are removed below, this process's own too: none is ready until the next refill.
    await this.spares?.forget();
    for (const name of await fs.readdir(this.paths.root)) {
      // Probes of older versions ran here.
      if (name.startsWith('probe-')) await this.removeTree(path.join(this.paths.root, name));
    }
    let names: string[];
    try {
      names = await fs.readdir(this.paths.containersDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      names = [];
    }
    for (const id of names) {
      if (id.startsWith(PROBE_PREFIX) || id.startsWith(SPARE_PREFIX)) {
        await this.removeTree(path.join(this.paths.containersDir, id));
        continue;
      }
      try {
        checkContainerId(id);
      } catch {
        log().warn({ name: id }, 'removing a provisioner dir that no container id can name');
        await this.removeTree(path.join(this.paths.containersDir, id));
        continue;
      }
      await this.lock.run(id, async () => {
        if (!keep.has(id)) {
          log().info({ containerId: id }, 'destroying orphan rootfs');
          await this.teardown(id).catch((err: unknown) => {
            log().error({ containerId: id, err: errorMessage(err) }, 'orphan rootfs could not be removed');
          });
          return;
        }
        await this.recoverOne(id, !leave.has(id)).catch((err: unknown) => {
          log().error({ containerId: id, err: errorMessage(err) }, 'rootfs could not be recovered');
        });
      });
    }
    // Every kept container holds its lease again (recoverOne): the source may end the others.
    await this.source.leasesRecovered?.();
  }

  private async recoverOne(id: string, remount: boolean): Promise<void> {
    const record = await this.readRecord(id);
    if (!record) {
      log().warn({ containerId: id }, 'removing the rootfs of an unfinished provision');
      await this.teardown(id);
      return;
    }
    await removeStaleTemps(this.paths.containerDir(id));
    // The store keeps leases in memory only: our record is what makes this container's lease durable.
    await this.source.retain(id, record.image.imageId);
    if (!remount) return;
    const remounted = await backendOf(record.backend).remount(this.context(id, record));
    if (remounted) log().info({ containerId: id, backend: record.backend }, 'rootfs re-mounted');
  }

  async provision(containerId: string, imageId: string, opts: ProvisionOptions): Promise<Provisioned> {
    checkContainerId(containerId);
    const { signal } = opts;
    return this.lock.run(containerId, async () => {
      await this.init();
      if (this.records.has(containerId)) {
        throw new AlreadyExistsError(`container "${containerId}" already has a rootfs`);
      }
      // A new id has no dir: made here, one mkdir (no lstat first); only an existing dir can hold a record or
      // what an interrupted provision left. The dir alone is nothing: recovery destroys a dir no record keeps.
      // The new dirs of a provision are made on the event loop (mkdirOnceSync: one syscall each, where a
      // thread-pool round trip cost 2–5× that under load; docs/performance.md, "CreateContainer, phase 9").
      const dir = this.paths.containerDir(containerId);
      // An overlay rootfs's dirs made ahead, the container's dir at their top (spares.ts): one rename instead
      // of that mkdir and the eight below it. Taken when the backend is overlay whatever the image: `overlay`,
      // or `auto` for a writable rootfs (overlay where the probe found it, else copy, which drops the dirs).
      const early = this.backend === 'overlay' || (this.backend === 'auto' && !opts.readonlyRootfs);
      let spare = early ? this.spares?.take(dir) : undefined;
      if (spare === undefined && !(await costOf('step provision mkdir', async () => mkdirOnceSync(dir, 0o700)))) {
        if (await this.readRecord(containerId)) {
          throw new AlreadyExistsError(`container "${containerId}" already has a rootfs`);
        }
        await this.teardownFiles(containerId);
        mkdirOnceSync(dir, 0o700);
      }
      let recordWrite: Promise<void> | undefined;
      try {
        signal?.throwIfAborted();
        await costOf('step provision retain', () => this.source.retain(containerId, imageId));
        const image = await this.source.layers(imageId);
        const checked = checkLayerDirs(imageId, image.layerDirs);
        if (this.backend === 'auto') await checked; // the choice looks into the layers
        const name: BackendName =
          this.backend === 'auto' ? await this.chooser.choose(image.layerDirs, opts.readonlyRootfs) : this.backend;
        const backend = backendOf(name);
        if (spare !== undefined && name !== 'overlay') {
          await fs.rm(path.join(dir, 'backends'), { recursive: true, force: true });
          spare = undefined;
        }
        const rootfsId = spare ?? randomBytes(8).toString('hex');
        const rootfs = this.paths.rootfs(containerId, name, rootfsId);
        const ctx = {
          containerId,
          layerDirs: image.layerDirs,
          rootfs,
          scratch: this.paths.scratch(containerId, name, rootfsId),
          signal,
          deferMount: opts.deferMount === true && backend.mount !== undefined,
          dirsMade: spare !== undefined,
        };
        const record: ProvisionRecord = {
          version: 1,
          containerId,
          backend: name,
          rootfsId,
          rootfs,
          image: { imageId: image.imageId, kind: image.kind, config: { ...image.config }, layerDirs: image.layerDirs },
        };
        const writable = this.writableOf(containerId, name, rootfsId);
        if (writable !== undefined) record.writableDir = writable;
        if (opts.deferSync) {
          // Deferred: the caller syncs it together with its own record (one journal commit for both). Until
          // then a process crash still finds it (the page cache survives); a power loss may drop it, and then
          // the caller's record, which is written durably only with this one, is not there either. Renamed
          // before the dirs are made and the backend builds the rootfs: a crash before the caller's record
          // exists leaves an id that recovery does not keep, whose dir it destroys (mounts and all) whether or
          // not the record is there. Settled before any rollback (below), so its rename never races the rm.
          // On the event loop (four syscalls; docs/performance.md, "CreateContainer, phase 9").
          recordWrite = (async () => writeJsonReplaceSync(this.paths.record(containerId), record))();
          recordWrite.catch(() => {});
        }
        // Concurrent; all settle before a failure is rolled back, so the rollback's rm never races a mkdir.
        // The dirs from the container's dir down to the rootfs's parent one level at a time: three mkdirs,
        // where `recursive` would first fail on each missing level; on the event loop, as above. Async, so
        // that a failed mkdir is a rejection settled with the rest.
        const makeParents = async (): Promise<void> => {
          if (spare !== undefined) return;
          const backendDir = this.paths.backendDir(containerId, name);
          for (const d of [path.dirname(backendDir), backendDir, path.dirname(rootfs)]) mkdirOnceSync(d, 0o700);
        };
        await costOf('step provision dirs', () =>
          settleAll([checked, backend.validate(image.layerDirs), makeParents()]),
        );
        const built = async (): Promise<void> => {
          // A backend that mounts now (bind, overlay without deferMount) waits for the caller's intent.
          if (!ctx.deferMount && backend.mountsAtProvision) await opts.intent;
          const { writableDir } = await costOf('step provision backend', () => backend.provision(ctx));
          if (writableDir !== writable) {
            throw new InternalError(`backend ${name} put the writable layer at "${writableDir}", not "${writable}"`);
          }
        };
        if (recordWrite) {
          await settleAll([built(), recordWrite]);
        } else {
          // On its own the record is what says "finished": written last, durably.
          await built();
          await writeJsonAtomic(this.paths.record(containerId), record);
        }
        this.records.set(containerId, record);
        if (ctx.deferMount) this.unmounted.add(containerId);
        log().debug({ containerId, imageId, backend: name, layers: image.layerDirs.length }, 'rootfs provisioned');
        return provisioned(record);
      } catch (err) {
        await recordWrite?.catch(() => {});
        // Rolled back without the request's signal: an aborted request must still leave nothing behind.
        await this.teardown(containerId).catch((e: unknown) => {
          log().error({ containerId, err: errorMessage(e) }, 'rolling back a failed provision failed');
        });
        throw fromAbort(err, signal);
      }
    });
  }

  async get(containerId: string): Promise<Provisioned | undefined> {
    try {
      checkContainerId(containerId);
    } catch {
      return undefined;
    }
    const r = await this.readRecord(containerId);
    return r ? provisioned(r) : undefined;
  }

  async mount(containerId: string, signal?: AbortSignal): Promise<void> {
    checkContainerId(containerId);
    await this.lock.run(containerId, async () => {
      const r = await this.readRecord(containerId);
      if (!r) throw new NotFoundError(`container "${containerId}" has no rootfs`);
      const backend = backendOf(r.backend);
      const ctx = { ...this.context(containerId, r), signal };
      // Provisioned by this process and not mounted since: no need to read the mount table to know it.
      if (this.unmounted.has(containerId) && backend.mount) await backend.mount(ctx);
      else await backend.remount(ctx);
      this.unmounted.delete(containerId);
    });
  }

  async sync(containerId: string): Promise<void> {
    checkContainerId(containerId);
    try {
      await syncFile(this.paths.record(containerId));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NotFoundError(`container "${containerId}" has no rootfs`, { cause: err });
      }
      throw err;
    }
  }

  /** Stops making spares (daemon shutdown), waits for one under way and removes those ready. */
  async close(): Promise<void> {
    await this.spares?.close();
  }

  async destroy(containerId: string): Promise<void> {
    checkContainerId(containerId);
    await this.lock.run(containerId, () => this.teardown(containerId));
  }

  async usage(containerId: string): Promise<Usage> {
    const r = (await this.get(containerId)) !== undefined ? await this.readRecord(containerId) : undefined;
    if (!r) throw new NotFoundError(`container "${containerId}" has no rootfs`);
    if (r.writableDir === undefined) return { bytes: 0, inodes: 0, mountpoint: r.rootfs };
    const cached = this.usages.get(containerId);
    if (cached && (this.watch || Date.now() - cached.at < this.usageCacheMs)) return cached.value;
    return this.measure(containerId, r.writableDir);
  }

  /** Walks one writable layer and keeps the figure, unless the container went meanwhile. */
  private async measure(id: string, writableDir: string): Promise<Usage> {
    const value = { ...(await diskUsage(writableDir)), mountpoint: writableDir };
    if (this.records.get(id)?.writableDir === writableDir) this.usages.set(id, { at: Date.now(), value });
    return value;
  }

  /**
   * Measures every writable layer in the background (Mesos `disk/du`): one pass every `intervalMs`, one walk
   * at a time, so the cost is bounded whatever the number of stats calls; usage() then answers from the
   * last pass (a container not measured yet is walked once). After each pass `onPass` gets the figures of
   * the containers measured in it. Returns the function that stops watching.
   */
  watchUsage(intervalMs: number, onPass: (figures: ReadonlyMap<string, Usage>) => Promise<void>): () => void {
    const w: { timer?: NodeJS.Timeout; stopped: boolean } = { stopped: false };
    this.watch = w;
    const pass = async (): Promise<void> => {
      const figures = new Map<string, Usage>();
      for (const [id, r] of [...this.records]) {
        if (w.stopped) return;
        if (r.writableDir === undefined || !this.records.has(id)) continue;
        try {
          figures.set(id, await this.measure(id, r.writableDir));
        } catch (err) {
          log().debug({ containerId: id, err: errorMessage(err) }, 'writable layer not measured');
        }
      }
      await onPass(figures);
    };
    const next = (): void => {
      if (w.stopped) return;
      w.timer = setTimeout(() => {
        pass()
          .catch((err: unknown) => log().warn({ err: errorMessage(err) }, 'disk usage pass failed'))
          .finally(next);
      }, intervalMs);
      w.timer.unref();
    };
    next();
    return () => {
      w.stopped = true;
      clearTimeout(w.timer);
      if (this.watch === w) this.watch = undefined;
    };
  }

  /**
   * The container store as ImageFsInfo's container filesystem reports it: its directory and the sum of the
   * writable layers (last figures; a layer never measured is walked now).
   */
  async storeUsage(): Promise<Usage> {
    await this.init();
    let bytes = 0;
    let inodes = 0;
    for (const id of [...this.records.keys()]) {
      const u = await this.usage(id).catch(() => undefined);
      bytes += u?.bytes ?? 0;
      inodes += u?.inodes ?? 0;
    }
    return { bytes, inodes, mountpoint: this.paths.containersDir };
  }

  private context(id: string, r: ProvisionRecord) {
    return {
      containerId: id,
      layerDirs: r.image.layerDirs,
      rootfs: r.rootfs,
      scratch: this.paths.scratch(id, r.backend, r.rootfsId),
    };
  }

  private init(): Promise<void> {
    this.initialized ??= (async () => {
      // 0700: a rootfs holds the image's setuid binaries; no host user may reach them.
      await fs.mkdir(this.paths.root, { recursive: true, mode: 0o700 });
      await fs.mkdir(this.paths.containersDir, { recursive: true, mode: 0o700 });
      await fs.chmod(this.paths.root, 0o700);
      await fs.chmod(this.paths.containersDir, 0o700);
      // Each container's dirs (and each spare) a block group of its own on ext2/3/4 (pkg/sys markTopDir).
      await markTopDir(this.paths.containersDir);
    })().catch((err: unknown) => {
      this.initialized = undefined;
      throw err;
    });
    return this.initialized;
  }

  private async readRecord(id: string): Promise<ProvisionRecord | undefined> {
    const cached = this.records.get(id);
    if (cached) return cached;
    let raw: unknown;
    try {
      raw = await readJson(this.paths.record(id));
    } catch (err) {
      log().warn({ containerId: id, err: errorMessage(err) }, 'unreadable provisioner record');
      return undefined;
    }
    if (raw === undefined) return undefined;
    const parsed = recordSchema.safeParse(raw);
    if (!parsed.success || parsed.data.containerId !== id) {
      log().warn({ containerId: id }, 'malformed provisioner record');
      return undefined;
    }
    // Paths come back from disk: they must be the ones this layout would build.
    const r = parsed.data;
    if (!this.ownPaths(id, r)) {
      log().warn({ containerId: id, rootfs: r.rootfs }, 'provisioner record names foreign paths');
      return undefined;
    }
    this.records.set(id, r);
    return r;
  }

  /** Where this layout puts the writable layer of a rootfs of `backend` (bind has none). */
  private writableOf(id: string, backend: BackendName, rootfsId: string): string | undefined {
    if (backend === 'overlay') return this.paths.upper(id, rootfsId);
    if (backend === 'copy') return this.paths.rootfs(id, backend, rootfsId);
    return undefined;
  }

  /** True when the record's rootfs and writable dir are where this layout puts them for its backend. */
  private ownPaths(id: string, r: ProvisionRecord): boolean {
    try {
      const rootfs = this.paths.rootfs(id, r.backend, r.rootfsId);
      const writable = this.writableOf(id, r.backend, r.rootfsId);
      return r.rootfs === rootfs && r.writableDir === writable && r.image.layerDirs.every((d) => path.isAbsolute(d));
    } catch {
      return false;
    }
  }

  /** Unmounts and removes everything of `id`, then ends its lease. Idempotent. */
  private async teardown(id: string): Promise<void> {
    await this.teardownFiles(id);
    await this.source.release(id);
  }

  private async teardownFiles(id: string): Promise<void> {
    this.records.delete(id);
    this.unmounted.delete(id);
    this.usages.delete(id);
    await this.removeTree(this.paths.containerDir(id));
  }

  /** Unmounts everything below `dir` (lazily when busy), then removes it; never rm's through a mount. */
  private async removeTree(dir: string): Promise<void> {
    // Nothing can be mounted below a path that does not exist: skip the mount table (two reads of it).
    try {
      await fs.lstat(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await costOf('step rootfs unmount', () => clearMountsUnder(dir));
    await costOf('step rootfs rm', () => removeTree(dir));
  }
}

/**
 * Every layer dir is an absolute path to a directory; the first missing one is named. Stat'd on the event
 * loop (the image store's own dirs; docs/performance.md, "CreateContainer, phase 9").
 */
async function checkLayerDirs(imageId: string, dirs: readonly string[]): Promise<void> {
  if (dirs.length === 0) throw new FailedPreconditionError(`image "${imageId}" has no layers`);
  const missing = dirs.find((d) => !(path.isAbsolute(d) && isDirectorySync(d)));
  if (missing !== undefined) {
    throw new FailedPreconditionError(`layer dir "${missing}" of image "${imageId}" is missing`);
  }
}

function isDirectorySync(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

// Moved to pkg/sys (the Docker containerizer measures writable layers too); still exported from here.
export { diskUsage };
