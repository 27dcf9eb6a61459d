/**
 * namespaces/ipc: the container's IPC namespace by CRI NamespaceMode. POD joins the pod's pinned namespace
 * (`PodState.ipcns`; a pod with host IPC has none, and its containers stay in the host's); NODE stays in
 * the host's; CONTAINER gets a new one. /dev/shm follows in filesystem/linux.
 */
import { FailedPreconditionError } from '../../../util/index.js';
import type { ContainerContext, Isolator, LaunchInfo } from '../../isolator.js';

export class IpcNamespaceIsolator implements Isolator {
  readonly name = 'namespaces/ipc';

  async prepare(ctx: ContainerContext): Promise<LaunchInfo | undefined> {
    const mode = ctx.spec.namespaces.ipc;
    if (mode === 'node') return undefined;
    if (mode === 'container') return { namespaces: [{ type: 'ipc' }] };
    if (mode === 'target') throw new FailedPreconditionError('ipc namespace mode "target" is not supported');
    if (ctx.pod.spec.namespaces.ipc === 'node') return undefined;
    const pin = ctx.pod.state.ipcns;
    if (!pin) throw new FailedPreconditionError(`pod "${ctx.pod.spec.id}" has no ipc namespace`);
    return { namespaces: [{ type: 'ipc', path: pin }] };
  }
}
