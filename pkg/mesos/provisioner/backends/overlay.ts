/**
 * The overlay backend (default): the layers are stacked read-only by overlayfs, top first, under a writable
 * upper dir and a work dir of the container's own. A single-layer image is an overlay of one lower and the
 * upper, so every overlay rootfs is writable and the image layer is never touched.
 *
 * Long layer lists go through short numbered symlinks made in the scratch dir for the time of the mount
 * (pkg/sys overlayMount), so the option string stays inside the one page the kernel copies.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isMountPoint, overlayMount } from '../../../sys/index.js';
import { FailedPreconditionError, InternalError } from '../../../util/index.js';
import type { Backend, BackendContext } from './types.js';

/** The upper (writable) dir of an overlay rootfs, inside its scratch dir. */
export function overlayUpper(scratch: string): string {
  return path.join(scratch, 'upper');
}

function overlayWork(scratch: string): string {
  return path.join(scratch, 'work');
}

/** The rootfs mount point, the upper and the work dir (idempotent). */
async function makeDirs(ctx: BackendContext): Promise<void> {
  // Two round trips instead of three (concurrent recursive mkdirs of a shared parent are safe); the work dir
  // after the upper one, so that their parent always gets the upper's mode.
  await Promise.all([
    fs.mkdir(overlayUpper(ctx.scratch), { recursive: true, mode: 0o755 }),
    fs.mkdir(ctx.rootfs, { recursive: true, mode: 0o755 }),
  ]);
  await fs.mkdir(overlayWork(ctx.scratch), { recursive: true, mode: 0o700 });
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
