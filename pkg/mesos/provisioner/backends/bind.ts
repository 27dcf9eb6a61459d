/**
 * The bind backend: the one layer of a single-layer image, bind-mounted read-only. Nothing is copied and
 * nothing is writable, so the rootfs must already hold every mount point the runtime needs: runc creates
 * missing mount targets inside the rootfs, which fails with EROFS here. `/proc`, `/sys` and `/dev` (what
 * every container mounts) are checked at provision time; the containerizer checks the rest of its mounts
 * (`/etc/hosts`, `/etc/resolv.conf`, volumes…) with `missingMountTargets` before launching.
 */
import { promises as fs } from 'node:fs';
import { bindMount, isMountPoint, resolveInRoot } from '../../../sys/index.js';
import { FailedPreconditionError, InternalError } from '../../../util/index.js';
import type { Backend, BackendContext } from './types.js';

/** Directories the OCI runtime always mounts on; a bind rootfs without them cannot start. */
export const BIND_REQUIRED_DIRS = ['/proc', '/sys', '/dev'] as const;

/**
 * The `destinations` (absolute paths inside the container) that do not exist in `rootfs`. Symlinks inside
 * the rootfs are followed as the container would see them (absolute targets from the rootfs root, `..`
 * never above it), so nothing outside the rootfs is ever looked at.
 */
export async function missingMountTargets(rootfs: string, destinations: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const d of destinations) {
    if (!(await existsInRoot(rootfs, d))) missing.push(d);
  }
  return missing;
}

/** Whether `dest` exists inside `rootfs`, symlinks resolved within it; a symlink loop counts as missing. */
async function existsInRoot(rootfs: string, dest: string): Promise<boolean> {
  return (await resolveInRoot(rootfs, dest).catch(() => undefined)) !== undefined;
}

async function checkLayer(layer: string): Promise<void> {
  const missing = await missingMountTargets(layer, BIND_REQUIRED_DIRS);
  if (missing.length > 0) {
    throw new FailedPreconditionError(
      `the bind backend needs the image to contain the mount points ${missing.map((m) => `"${m}"`).join(', ')} ` +
        '(its rootfs is read-only); use the overlay or copy backend',
    );
  }
}

async function mountIt(ctx: BackendContext): Promise<void> {
  const layer = ctx.layerDirs[0] as string;
  await fs.mkdir(ctx.rootfs, { recursive: true, mode: 0o755 });
  try {
    await bindMount(layer, ctx.rootfs, { readOnly: true, signal: ctx.signal });
  } catch (err) {
    throw new InternalError(`bind mount of the rootfs of container "${ctx.containerId}" failed`, { cause: err });
  }
}

/** True when the bind backend can serve these layers (one layer holding the required mount points). */
export async function bindCompatible(layerDirs: readonly string[]): Promise<boolean> {
  return bindBackend.validate(layerDirs).then(
    () => true,
    () => false,
  );
}

export const bindBackend: Backend = {
  name: 'bind',
  mountsAtProvision: true,

  async validate(layerDirs) {
    if (layerDirs.length !== 1) {
      throw new FailedPreconditionError(
        `the bind backend serves single-layer images only; this image has ${layerDirs.length} layers ` +
          '(use the overlay, copy or auto backend)',
      );
    }
    await checkLayer(layerDirs[0] as string);
  },

  async provision(ctx) {
    await mountIt(ctx);
    return {};
  },

  async remount(ctx) {
    if (await isMountPoint(ctx.rootfs)) return false;
    await mountIt(ctx);
    return true;
  },
};
