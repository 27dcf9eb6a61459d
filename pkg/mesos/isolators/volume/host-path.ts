/**
 * volume/host_path (Mesos `volume/host_path`): the CRI host path mounts (image volumes are volume/image's); the
 * rootfs, /etc/{hosts,resolv.conf,hostname}, /dev/shm and devices belong to filesystem/linux.
 *
 * A missing host path is created as a directory (containerd's behaviour; kubelet makes its own volume
 * directories anyway). Mounts are recursive binds, read-only where asked; recursive read-only (`rro`)
 * needs runtime and kernel support (FailedPrecondition otherwise) and private propagation. Propagation
 * rslave needs a host source that receives propagation (shared or slave), rshared a shared source; the
 * container's rootfs propagation is raised to match, or the mount would not propagate past the rootfs.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { MountSpec } from '../../../containerizer/index.js';
import type { Mount } from '../../../oci/index.js';
import { type MountInfo, readMountInfo } from '../../../sys/index.js';
import { FailedPreconditionError, InvalidArgumentError } from '../../../util/index.js';
import type { ContainerContext, Isolator, LaunchInfo } from '../../isolator.js';

/** The mount that holds `p` (longest mount point prefix; the last mounted wins on one point). */
export function mountOf(mounts: readonly MountInfo[], p: string): MountInfo | undefined {
  let best: MountInfo | undefined;
  for (const m of mounts) {
    const inside = m.mountPoint === '/' || p === m.mountPoint || p.startsWith(`${m.mountPoint}/`);
    if (inside && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

function checkMount(m: MountSpec): void {
  for (const p of [m.hostPath, m.containerPath]) {
    if (!path.isAbsolute(p) || p.includes('\0')) {
      throw new InvalidArgumentError(`mount paths must be absolute: "${m.hostPath}" → "${m.containerPath}"`);
    }
  }
  if (path.resolve(m.containerPath) === '/') throw new InvalidArgumentError('a mount cannot replace the rootfs "/"');
  if (m.recursiveReadOnly && (!m.readonly || m.propagation !== 'private')) {
    throw new InvalidArgumentError(
      `recursive read-only mount "${m.containerPath}" must be read-only with private propagation`,
    );
  }
}

export class HostPathIsolator implements Isolator {
  readonly name = 'volume/host_path';

  constructor(private readonly deps: { recursiveReadOnlyMounts: boolean }) {}

  async prepare(ctx: ContainerContext): Promise<LaunchInfo | undefined> {
    // Image volumes belong to volume/image.
    const hostMounts = ctx.spec.mounts.filter((m) => m.image === undefined);
    if (hostMounts.length === 0) return undefined;
    for (const m of hostMounts) checkMount(m);
    // Parents before children, so that a mount below another is not hidden by it.
    const ordered = [...hostMounts].sort(
      (a, b) => path.resolve(a.containerPath).split('/').length - path.resolve(b.containerPath).split('/').length,
    );
    let table: MountInfo[] | undefined;
    const info: LaunchInfo = { mounts: [] };
    for (const m of ordered) {
      if (m.recursiveReadOnly && !this.deps.recursiveReadOnlyMounts) {
        throw new FailedPreconditionError(
          `recursive read-only mount "${m.containerPath}" is not supported by this OCI runtime or kernel`,
        );
      }
      const source = await this.source(m.hostPath);
      const options = ['rbind'];
      if (m.readonly) options.push(...(m.recursiveReadOnly ? ['ro', 'rro'] : ['ro']));
      else options.push('rw');
      if (m.propagation === 'private') {
        options.push('rprivate');
      } else {
        table ??= await readMountInfo();
        const host = mountOf(table, source);
        const p = host?.propagation;
        if (m.propagation === 'rshared' && p?.shared === undefined) {
          throw new FailedPreconditionError(`path "${m.hostPath}" is mounted on a mount that is not shared`);
        }
        if (m.propagation === 'rslave' && p?.shared === undefined && p?.master === undefined) {
          throw new FailedPreconditionError(`path "${m.hostPath}" is mounted on a mount that is not shared or slave`);
        }
        options.push(m.propagation);
        if (m.propagation === 'rshared') info.rootfsPropagation = 'rshared';
        else if (info.rootfsPropagation !== 'rshared') info.rootfsPropagation = 'rslave';
      }
      const mount: Mount = { destination: path.resolve(m.containerPath), type: 'bind', source, options };
      info.mounts!.push(mount);
    }
    return info;
  }

  /** The real host path of a mount source, made as a directory when missing. */
  private async source(hostPath: string): Promise<string> {
    try {
      return await fs.realpath(hostPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    try {
      await fs.mkdir(hostPath, { recursive: true, mode: 0o755 });
      return await fs.realpath(hostPath);
    } catch (err) {
      throw new FailedPreconditionError(`cannot create host path "${hostPath}"`, { cause: err });
    }
  }
}
