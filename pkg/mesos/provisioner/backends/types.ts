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
}

export interface Backend {
  readonly name: BackendName;
  /**
   * Rejects (FailedPreconditionError) layer sets this backend cannot serve, before anything is created.
   */
  validate(layerDirs: readonly string[]): Promise<void>;
  /**
   * Builds the rootfs at `ctx.rootfs`. Returns the writable directory whose usage is the container's
   * writable layer, if any. On failure the caller removes what was made.
   */
  provision(ctx: BackendContext): Promise<{ writableDir?: string }>;
  /** Mounts the rootfs again when its mount is gone (reboot, stray unmount); true when it did. */
  remount(ctx: BackendContext): Promise<boolean>;
}
