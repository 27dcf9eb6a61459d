/**
 * docker/runtime (Mesos `docker/runtime`): command, environment and working directory of a container from
 * its Docker/OCI image config, with kubelet semantics (see ../process.ts). The image USER is resolved by
 * linux/security, which owns the process user. Containers of AppC images are left to appc/runtime.
 */
import type { ContainerContext, Isolator, LaunchInfo } from '../../isolator.js';
import { podHostname } from '../hostname.js';
import { processLaunchInfo } from '../process.js';

export class DockerRuntimeIsolator implements Isolator {
  readonly name = 'docker/runtime';

  async prepare(ctx: ContainerContext): Promise<LaunchInfo | undefined> {
    if (ctx.image.kind !== 'docker') return undefined;
    return processLaunchInfo(ctx.spec, ctx.image.config, podHostname(ctx.pod.spec));
  }
}
