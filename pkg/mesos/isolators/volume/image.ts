/**
 * volume/image (Mesos `volume/image`, Kubernetes image volumes, KEP-4639): a CRI mount whose `image` is set
 * gets that image's root filesystem, read-only, at its container path (or only `imageSubPath` of it).
 *
 * The image's layers are mounted once per volume on the host, then bind-mounted into the container by the
 * OCI runtime:
 *
 *   <stateDir>/<containerId>/record.json     the volumes (lease owner, image id, mount point), written first
 *   <stateDir>/<containerId>/<n>             volume n: a read-only overlay of the layers (a read-only bind
 *                                            of the one layer of a single-layer image)
 *
 * Each volume holds a lease on its image in the store (owner `<containerId>/volume/image/<n>`), so a
 * RemoveImage while it is mounted only drops the image's names; the layers go when the container is removed.
 *
 * Crash safety: the record names every lease and mount point before the first lease is taken or the first
 * mount made, so cleanup and recovery always know what to release. Recovery tears down the volumes of
 * containers without a record upstream (half-made ones included) and re-mounts the lost mounts of known ones.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { MountSpec } from '../../../containerizer/index.js';
import type { Mount } from '../../../oci/index.js';
import { bindMount, isMountPoint, clearMountsUnder, overlayMount, resolveInRoot } from '../../../sys/index.js';
import {
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  errorMessage,
  isKind,
  logger,
  pathExists,
  readJson,
  writeJsonAtomic,
} from '../../../util/index.js';
import type { ContainerContext, Isolator, LaunchInfo, PodContext } from '../../isolator.js';

const log = () => logger('mesos/isolators/volume/image');

/** Container ids become directory names here: only what no path trick can abuse. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** What the isolator needs from the image store: layer dirs and leases (the provisioner's ImageSource). */
export interface ImageLeases {
  /** NotFoundError when the image is not in the store. */
  layers(imageId: string): Promise<{ imageId: string; layerDirs: string[] }>;
  /** NotFoundError when the image is not in the store; idempotent. */
  retain(owner: string, imageId: string): Promise<void>;
  /** Idempotent. */
  release(owner: string): Promise<void>;
}

export interface ImageVolumeOptions {
  /** The image store (absent, or no state dir: a container that asks for an image volume is refused). */
  images?: ImageLeases;
  /** Where volumes are recorded and mounted; absolute, ucri's own. */
  stateDir?: string;
}

interface VolumeRecord {
  owner: string;
  imageId: string;
  mountPoint: string;
}

interface ContainerVolumes {
  version: 1;
  containerId: string;
  volumes: VolumeRecord[];
}

/** The image volumes of a container spec, in the order of its mounts. */
export function imageVolumes(mounts: readonly MountSpec[]): Array<MountSpec & { image: { id: string; ref: string } }> {
  return mounts.filter((m): m is MountSpec & { image: { id: string; ref: string } } => m.image !== undefined);
}

/** InvalidArgumentError unless `sub` is a relative path without `..` or NUL (empty: the image root). */
export function checkSubPath(sub: string): void {
  if (sub.startsWith('/') || sub.includes('\0') || sub.split('/').includes('..')) {
    throw new InvalidArgumentError(`image sub path "${sub}" must be relative, without ".."`);
  }
}

/**
 * The host path of `sub` inside `root`, following symlinks as a process chrooted at `root` would
 * ({@link resolveInRoot}), so the result never leaves `root`. InvalidArgumentError when it does not exist or
 * resolving it loops.
 */
export async function resolveSubPath(root: string, sub: string): Promise<string> {
  let host: string | undefined;
  try {
    host = await resolveInRoot(root, sub);
  } catch (err) {
    if (isKind(err, 'InvalidArgument')) throw new InvalidArgumentError(`image sub path "${sub}" has too many symlinks`);
    throw err;
  }
  if (host === undefined) throw new InvalidArgumentError(`image sub path "${sub}" does not exist in the image`);
  return host;
}

export class ImageVolumeIsolator implements Isolator {
  readonly name = 'volume/image';

  constructor(private readonly opts: ImageVolumeOptions) {}

  async prepare(ctx: ContainerContext, signal: AbortSignal): Promise<LaunchInfo | undefined> {
    const wanted = imageVolumes(ctx.spec.mounts);
    if (wanted.length === 0) return undefined;
    const images = this.opts.images;
    if (!images || !this.opts.stateDir) throw new FailedPreconditionError('image volumes need the image store');
    const id = ctx.spec.id;
    const dir = this.dir(id);
    for (const m of wanted) {
      if (!path.isAbsolute(m.containerPath) || m.containerPath.includes('\0')) {
        throw new InvalidArgumentError(`image volume path "${m.containerPath}" must be absolute`);
      }
      if (path.resolve(m.containerPath) === '/') throw new InvalidArgumentError('an image volume cannot replace "/"');
      checkSubPath(m.imageSubPath ?? '');
      // volume/host_path mounts before this isolator: a host mount inside an image volume would be hidden.
      const under = ctx.spec.mounts.find(
        (h) => h.image === undefined && path.resolve(h.containerPath).startsWith(`${path.resolve(m.containerPath)}/`),
      );
      if (under) {
        throw new InvalidArgumentError(
          `host path mount "${under.containerPath}" lies inside image volume "${m.containerPath}" (not supported)`,
        );
      }
    }
    const record: ContainerVolumes = {
      version: 1,
      containerId: id,
      volumes: wanted.map((m, i) => ({
        owner: `${id}/volume/image/${i}`,
        imageId: m.image.id,
        mountPoint: path.join(dir, String(i)),
      })),
    };
    // Intent first: cleanup and recovery release what the record names, whether or not it was taken.
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await writeJsonAtomic(this.recordPath(id), record);
    const mounts: Mount[] = [];
    for (const [i, m] of wanted.entries()) {
      const v = record.volumes[i] as VolumeRecord;
      signal.throwIfAborted();
      await images.retain(v.owner, v.imageId);
      await this.mountVolume(images, v, signal);
      const source = await resolveSubPath(v.mountPoint, m.imageSubPath ?? '');
      mounts.push({
        destination: path.resolve(m.containerPath),
        type: 'bind',
        source,
        options: ['rbind', 'ro', 'rprivate', 'nosuid', 'nodev'],
      });
    }
    return { mounts };
  }

  async cleanup(ctx: ContainerContext): Promise<void> {
    if (this.opts.stateDir) await this.teardown(ctx.spec.id);
  }

  async recover(_pods: PodContext[], containers: ContainerContext[]): Promise<void> {
    const known = new Map(containers.map((c) => [c.spec.id, c]));
    if (!this.opts.stateDir) return;
    let names: string[];
    try {
      names = await fs.readdir(this.opts.stateDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const name of names) {
      try {
        if (!known.has(name)) {
          log().info({ containerId: name }, 'removing image volumes of a container without a record');
          await this.teardown(name);
          continue;
        }
        await this.remount(name);
      } catch (err) {
        log().error({ containerId: name, err: errorMessage(err) }, 'image volumes could not be recovered');
      }
    }
  }

  /** A known container's volumes after a restart: leases taken again, mounts a reboot lost made again. */
  private async remount(id: string): Promise<void> {
    const record = await this.readRecord(id);
    const images = this.opts.images;
    if (!record || !images) return;
    for (const v of record.volumes) {
      await images.retain(v.owner, v.imageId);
      if (!(await isMountPoint(v.mountPoint).catch(() => false))) {
        await this.mountVolume(images, v, AbortSignal.timeout(60_000));
        log().info({ containerId: id, mountPoint: v.mountPoint }, 'image volume re-mounted');
      }
    }
  }

  /** The image's layers, read-only at `v.mountPoint` (an existing mount is kept). */
  private async mountVolume(images: ImageLeases, v: VolumeRecord, signal: AbortSignal): Promise<void> {
    const { layerDirs } = await images.layers(v.imageId);
    if (layerDirs.length === 0) throw new FailedPreconditionError(`image "${v.imageId}" has no layers`);
    await fs.mkdir(v.mountPoint, { recursive: true, mode: 0o755 });
    if (await isMountPoint(v.mountPoint)) return;
    try {
      if (layerDirs.length === 1) {
        await bindMount(layerDirs[0] as string, v.mountPoint, { readOnly: true, signal });
      } else {
        await overlayMount(v.mountPoint, { lowerDirs: [...layerDirs].reverse(), signal });
      }
    } catch (err) {
      throw new InternalError(`mounting image "${v.imageId}" at "${v.mountPoint}" failed`, { cause: err });
    }
  }

  /** Unmounts and removes every volume of `id` and ends their leases. Idempotent. */
  private async teardown(id: string): Promise<void> {
    if (!SAFE_ID.test(id)) {
      log().warn({ name: id }, 'ignoring an image volume dir that no container id can name');
      return;
    }
    const dir = this.dir(id);
    // No dir (every container without image volumes): no record, so no lease taken (the record is written
    // first, in the dir), and no mount point below it. One lstat instead of a read of the record, two of the
    // mount table and an rm.
    if (!(await pathExists(dir))) return;
    const record = await this.readRecord(id);
    await clearMountsUnder(dir);
    // The leases go after the mounts, never before: the layers must outlive every mount of them.
    for (const v of record?.volumes ?? []) await this.opts.images?.release(v.owner);
    await fs.rm(dir, { recursive: true, force: true });
  }

  private dir(id: string): string {
    if (!this.opts.stateDir) throw new FailedPreconditionError('image volumes have no state dir');
    if (!SAFE_ID.test(id)) throw new InvalidArgumentError(`container id "${id}" cannot name an image volume dir`);
    return path.join(this.opts.stateDir, id);
  }

  private recordPath(id: string): string {
    return path.join(this.dir(id), 'record.json');
  }

  private async readRecord(id: string): Promise<ContainerVolumes | undefined> {
    const raw = (await readJson(this.recordPath(id)).catch(() => undefined)) as ContainerVolumes | undefined;
    if (raw?.version !== 1 || raw.containerId !== id || !Array.isArray(raw.volumes)) return undefined;
    // Paths come back from disk: only mount points this layout would build, only owners of this container.
    const ok = raw.volumes.every(
      (v, i) =>
        v.owner === `${id}/volume/image/${i}` &&
        v.mountPoint === path.join(this.dir(id), String(i)) &&
        typeof v.imageId === 'string',
    );
    return ok ? raw : undefined;
  }
}
