/**
 * The linux launcher (Mesos `LinuxLauncher`), the default: containers get the namespaces their spec asks for.
 * All the work is in the shared OciLauncher (oci.ts); only the posix launcher adapts the spec.
 */
import { OciLauncher, type OciLauncherOptions } from './oci.js';

/** The default launcher: containers get the namespaces their spec asks for. */
export class LinuxLauncher extends OciLauncher {
  static async open(opts: OciLauncherOptions): Promise<LinuxLauncher> {
    const { runtime, conmon } = await OciLauncher.parts(opts);
    return new LinuxLauncher('linux', runtime, conmon, opts.execDir);
  }
}
