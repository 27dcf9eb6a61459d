/**
 * The posix launcher, for hosts that cannot give containers namespaces (Mesos `PosixLauncher`): the same
 * conmon + OCI runtime pair as the linux launcher — so logs, exit files, exec and recovery work alike — but the
 * runtime is handed a spec whose only namespace is a mount namespace (needed for the image rootfs). The
 * process shares the host's pid, network, IPC and UTS namespaces; a hostname and sysctls, which need private
 * namespaces, are dropped. Pods get no pinned namespaces under this launcher (the containerizer skips them).
 *
 * Why not a plain process: conmon is what gives the CRI its log format, attach socket and exit file across
 * ucri restarts, and runc still confines the process to its cgroup and rootfs.
 */
import type { Spec } from '../../oci/index.js';
import { logger } from '../../util/index.js';
import { OciLauncher, type OciLauncherOptions } from './oci.js';

const log = logger('mesos/launcher');

export class PosixLauncher extends OciLauncher {
  static async open(opts: OciLauncherOptions): Promise<PosixLauncher> {
    const { runtime, conmon } = await OciLauncher.parts(opts);
    return new PosixLauncher('posix', runtime, conmon, opts.execDir);
  }

  protected override adapt(spec: Spec): Spec {
    const out: Spec = structuredClone(spec);
    if (out.linux) {
      const dropped = (out.linux.namespaces ?? []).filter((n) => n.type !== 'mount').map((n) => n.type);
      if (dropped.length > 0) log.debug({ dropped }, 'posix launcher: namespaces not isolated');
      out.linux.namespaces = [{ type: 'mount' }];
      delete out.linux.sysctl;
    }
    delete out.hostname;
    return out;
  }
}
