/**
 * The backend contract (Mesos `Backend`, provisioner/backend.hpp), internal to the provisioner: a backend
 * builds one container's rootfs from layer directories and can re-establish it after a reboot.
 *
 * Call order for one rootfs: `validate` → `provision` → (`remount` at every recovery). There is no backend
 * destroy: the provisioner unmounts everything below the container dir and removes it, which undoes any
 * backend, including one that failed half-way.
 */
import type { BackendName } from '../types.js';

export interface BackendContext {
  containerId: string;
  /** Extracted layer directories from the store, base first; absolute and trusted (ucri made them). */
  layerDirs: readonly string[];
  /** Where the rootfs goes; its parent exists, the rootfs itself does not yet. */
  rootfs: string;
  /** A per-rootfs directory for the backend's own files (overlay upper/work); may not exist yet. */
  scratch: string;
  signal?: AbortSignal;
  /**
   * Make the rootfs's dirs but do not mount it yet: `remount` mounts it when the container first needs it
   * (StartContainer). Only backends whose rootfs is a mount of store content honour it (overlay); the others
   * build the rootfs at once and ignore it.
   */
  deferMount?: boolean;
  /** The rootfs's and scratch dirs exist already, with their modes (a spare moved into place: spares.ts). */
  dirsMade?: boolean;
}

export interface Backend {
  readonly name: BackendName;
  /**
   * Whether `provision` without `deferMount` mounts something (a side effect outside ucri's own store dirs,
   * which must wait for the caller's record of intent); false for a backend that only writes files under the
   * rootfs's own dir.
   */
  readonly mountsAtProvision: boolean;
  /**
   * Rejects (FailedPreconditionError) layer sets this backend cannot serve, before anything is created.
   */
  validate(layerDirs: readonly string[]): Promise<void>;
  /**
   * Builds the rootfs at `ctx.rootfs`. Returns the writable directory whose usage is the container's
   * writable layer, if any. On failure the caller removes what was made.
   */
  provision(ctx: BackendContext): Promise<{ writableDir?: string }>;
  /**
   * Mounts a rootfs that `provision` with `deferMount` left unmounted, in this process, without looking at
   * the mount table first (the caller knows it is not mounted). Backends without it are mounted by `remount`.
   */
  mount?(ctx: BackendContext): Promise<void>;
  /**
   * Mounts the rootfs when it is not mounted (reboot, stray unmount, or a provision with `deferMount`); true
   * when it did. Idempotent.
   */
  remount(ctx: BackendContext): Promise<boolean>;
}
