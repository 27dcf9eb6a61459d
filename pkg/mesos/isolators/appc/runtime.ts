/**
 * appc/runtime: the runtime isolator Mesos never had for AppC images. The appc store hands the app's
 * `exec`, `environment` and `workingDirectory` over as an ImageConfig (exec as the entrypoint), so the
 * kubelet rules are the same as for Docker images. The app's user and group are resolved by linux/security.
 */
import type { ContainerContext, Isolator, LaunchInfo } from '../../isolator.js';
import { podHostname } from '../hostname.js';
import { processLaunchInfo } from '../process.js';

export class AppcRuntimeIsolator implements Isolator {
  readonly name = 'appc/runtime';

  async prepare(ctx: ContainerContext): Promise<LaunchInfo | undefined> {
    if (ctx.image.kind !== 'appc') return undefined;
    return processLaunchInfo(ctx.spec, ctx.image.config, podHostname(ctx.pod.spec));
  }
}
