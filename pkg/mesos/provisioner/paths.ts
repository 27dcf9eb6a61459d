/**
 * The provisioner's disk state. Nobody else builds these paths.
 *
 *   <work_dir>/provisioner/                      0700: rootfses hold setuid files; host users stay out
 *
 *   <container_store_dir>/                       0700; default <work_dir>/provisioner/containers: the
 *   │                                           containers' writable layers, apart from the image layers
 *   ├── .probe-XXXXXX/                          the `auto` backend's overlay probe, on the filesystem the
 *   │                                           upper dirs use (removed after it ran, and at recovery)
 *   ├── .spare-<rootfsId>/                      an overlay rootfs's dirs made ahead (spares.ts): what a
 *   │                                           provision renames to its container dir (removed at recovery)
 *   └── <containerId>/
 *       ├── record.json                         checkpoint, renamed into place (see ProvisionRecord): image,
 *       │                                       backend, rootfs id, layer dirs, rootfs, writable dir; written
 *       │                                       last, or with `deferSync` while the rootfs is built (the
 *       │                                       caller's record, written after, is then what says finished)
 *       └── backends/<backend>/
 *           ├── rootfses/<rootfsId>/            overlay: mount point; bind: mount point; copy: the copied tree
 *           └── scratch/<rootfsId>/             overlay only
 *               ├── upper/                      the container's writable layer
 *               ├── work/                       overlayfs work dir (same filesystem as upper)
 *               └── ovl-XXXXXX/                 short numbered symlinks to the layers, present only while
 *                                               the overlay is being mounted (pkg/sys overlayMount linkDir)
 *
 * A container dir without record.json is a provision that did not finish: recovery removes it, as it removes
 * every dir of an id that the caller does not keep.
 */
import path from 'node:path';
import { InvalidArgumentError, joinPath } from '../../util/index.js';
import type { BackendName } from './types.js';

/** Container ids name directories: no separators, no dot-names, bounded length. */
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** Rootfs ids are ours (random hex), but come back from records on disk. */
const ROOTFS_ID = /^[a-f0-9]{8,64}$/;

/** InvalidArgumentError unless `id` can name a container directory. */
export function checkContainerId(id: string): void {
  if (!CONTAINER_ID.test(id)) throw new InvalidArgumentError(`invalid container id "${id}"`);
}

/** InvalidArgumentError unless `id` is a rootfs id as this module makes them. */
export function checkRootfsId(id: string): void {
  if (!ROOTFS_ID.test(id)) throw new InvalidArgumentError(`invalid rootfs id "${id}"`);
}

/** Names of the overlay probe's temp dirs; no container id starts with a dot. */
export const PROBE_PREFIX = '.probe-';

/** Every path of the provisioner under one work dir. */
export class ProvisionerPaths {
  /** `<work_dir>/provisioner` */
  readonly root: string;
  /** Parent of every container dir: `--container_store_dir`, default `<work_dir>/provisioner/containers`. */
  readonly containersDir: string;

  constructor(workDir: string, containerStoreDir?: string) {
    if (!path.isAbsolute(workDir)) throw new InvalidArgumentError(`work dir "${workDir}" is not absolute`);
    if (containerStoreDir !== undefined && !path.isAbsolute(containerStoreDir)) {
      throw new InvalidArgumentError(`container store dir "${containerStoreDir}" is not absolute`);
    }
    this.root = joinPath(path.resolve(workDir), 'provisioner');
    this.containersDir = containerStoreDir ? path.resolve(containerStoreDir) : joinPath(this.root, 'containers');
  }

  /** Prefix of the overlay probe's temp dirs, for mkdtemp. */
  get probePrefix(): string {
    return joinPath(this.containersDir, PROBE_PREFIX);
  }

  containerDir(containerId: string): string {
    checkContainerId(containerId);
    return joinPath(this.containersDir, containerId);
  }

  record(containerId: string): string {
    return joinPath(this.containerDir(containerId), 'record.json');
  }

  backendDir(containerId: string, backend: BackendName): string {
    return joinPath(this.containerDir(containerId), 'backends', backend);
  }

  rootfs(containerId: string, backend: BackendName, rootfsId: string): string {
    checkRootfsId(rootfsId);
    return joinPath(this.backendDir(containerId, backend), 'rootfses', rootfsId);
  }

  scratch(containerId: string, backend: BackendName, rootfsId: string): string {
    checkRootfsId(rootfsId);
    return joinPath(this.backendDir(containerId, backend), 'scratch', rootfsId);
  }

  upper(containerId: string, rootfsId: string): string {
    return joinPath(this.scratch(containerId, 'overlay', rootfsId), 'upper');
  }

  work(containerId: string, rootfsId: string): string {
    return joinPath(this.scratch(containerId, 'overlay', rootfsId), 'work');
  }
}
