/**
 * The overlay backend (default): the layers are stacked read-only by overlayfs, top first, under a writable
 * upper dir and a work dir of the container's own. A single-layer image is an overlay of one lower and the
 * upper, so every overlay rootfs is writable and the image layer is never touched.
 *
 * Long layer lists go through short numbered symlinks made in the scratch dir for the time of the mount
 * (pkg/sys overlayMount), so the option string stays inside the one page the kernel copies.
 */
import path from 'node:path';
import { isMountPoint, overlayMount } from '../../../sys/index.js';
import { FailedPreconditionError, InternalError, joinPath, mkdirOnceSync } from '../../../util/index.js';
import type { Backend, BackendContext } from './types.js';

/** The upper (writable) dir of an overlay rootfs, inside its scratch dir. */
export function overlayUpper(scratch: string): string {
  return joinPath(scratch, 'upper');
}

function overlayWork(scratch: string): string {
  return joinPath(scratch, 'work');
}

/**
 * The rootfs mount point, the upper and the work dir (idempotent): five mkdirs, parents first, on the event
 * loop (a new rootfs's dirs, in the provisioner's own store: one syscall each, where a thread-pool round trip
 * cost 2–5× that under load; docs/performance.md, "CreateContainer, phase 9"). The mount point and the
 * scratch dirs 0755, the work dir 0700. Async, so that a failure is a rejection like the mount's.
 */
async function makeDirs(ctx: BackendContext): Promise<void> {
  mkdirOnceSync(ctx.rootfs, 0o755);
  mkdirOnceSync(path.dirname(ctx.scratch), 0o755);
  mkdirOnceSync(ctx.scratch, 0o755);
  mkdirOnceSync(overlayUpper(ctx.scratch), 0o755);
  mkdirOnceSync(overlayWork(ctx.scratch), 0o700);
}

async function mountIt(ctx: BackendContext, dirsMade = false): Promise<void> {
  const upperDir = overlayUpper(ctx.scratch);
  const workDir = overlayWork(ctx.scratch);
  if (!dirsMade) await makeDirs(ctx);
  try {
    await overlayMount(ctx.rootfs, {
      // overlayfs lists the topmost layer first; the store gives them base first.
      lowerDirs: [...ctx.layerDirs].reverse(),
      upperDir,
      workDir,
      linkDir: ctx.scratch,
      signal: ctx.signal,
    });
  } catch (err) {
    throw new InternalError(`overlay mount of the rootfs of container "${ctx.containerId}" failed`, {
      cause: err,
    });
  }
}

export const overlayBackend: Backend = {
  name: 'overlay',
  mountsAtProvision: true,

  async validate(layerDirs) {
    if (layerDirs.length === 0) throw new FailedPreconditionError('an image without layers cannot be provisioned');
  },

  async provision(ctx) {
    // The dirs (a spare moved into place brings them), then the mount, unless deferred: `mount` or `remount`
    // mounts it at start. The upper dir is the writable layer from now on.
    if (!ctx.dirsMade) await makeDirs(ctx);
    if (!ctx.deferMount) await mountIt(ctx, true);
    return { writableDir: overlayUpper(ctx.scratch) };
  },

  async mount(ctx) {
    await mountIt(ctx, true);
  },

  async remount(ctx) {
    if (await isMountPoint(ctx.rootfs)) return false;
    await mountIt(ctx);
    return true;
  },
};
