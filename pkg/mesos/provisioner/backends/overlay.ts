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
import { FailedPreconditionError, InternalError, mkdirOnce } from '../../../util/index.js';
import type { Backend, BackendContext } from './types.js';

/** The upper (writable) dir of an overlay rootfs, inside its scratch dir. */
export function overlayUpper(scratch: string): string {
  return path.join(scratch, 'upper');
}

function overlayWork(scratch: string): string {
  return path.join(scratch, 'work');
}

/**
 * The rootfs mount point, the upper and the work dir (idempotent). One level at a time, each level's mkdirs
 * at once (three round trips for a new rootfs, whose parent the provisioner made; a recursive mkdir of the
 * upper dir alone took five): the mount point and the scratch dirs' parent, then the scratch dir, then the
 * upper (0755, as the scratch dirs) and the work dir (0700).
 */
async function makeDirs(ctx: BackendContext): Promise<void> {
  await Promise.all([mkdirOnce(ctx.rootfs, 0o755), mkdirOnce(path.dirname(ctx.scratch), 0o755)]);
  await mkdirOnce(ctx.scratch, 0o755);
  await Promise.all([mkdirOnce(overlayUpper(ctx.scratch), 0o755), mkdirOnce(overlayWork(ctx.scratch), 0o700)]);
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
    // Deferred: the dirs only (the upper dir is the writable layer from now on); remount mounts at start.
    if (ctx.deferMount) await makeDirs(ctx);
    else await mountIt(ctx);
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
