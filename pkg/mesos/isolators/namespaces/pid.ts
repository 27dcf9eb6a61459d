/**
 * namespaces/pid: the container's PID namespace by CRI NamespaceMode. POD joins the pod's shared namespace
 * through its pin (`PodState.pidns`, pinned from the infra process when it was created and verified by start
 * time), never through the infra's pid, which another process may hold once the infra has died; CONTAINER
 * gets a new one; NODE stays in the host's (no entry); TARGET joins the namespace of another container
 * (`ContainerContext.targetPid`, its init pid, verified again right before the start).
 */
import type { LinuxNamespace } from '../../../oci/index.js';
import { FailedPreconditionError } from '../../../util/index.js';
import type { ContainerContext, Isolator, LaunchInfo } from '../../isolator.js';

function join(pid: number | undefined, what: string): LinuxNamespace {
  if (pid === undefined || !Number.isSafeInteger(pid) || pid <= 0) {
    throw new FailedPreconditionError(`${what} has no running process whose pid namespace could be joined`);
  }
  return { type: 'pid', path: `/proc/${pid}/ns/pid` };
}

export class PidNamespaceIsolator implements Isolator {
  readonly name = 'namespaces/pid';

  async prepare(ctx: ContainerContext): Promise<LaunchInfo | undefined> {
    const mode = ctx.spec.namespaces.pid;
    switch (mode) {
      case 'node':
        return undefined;
      case 'container':
        return { namespaces: [{ type: 'pid' }] };
      case 'pod':
        if (!ctx.pod.state.pidns) {
          throw new FailedPreconditionError(`pod "${ctx.pod.spec.id}" has no pinned pid namespace to join`);
        }
        return { namespaces: [{ type: 'pid', path: ctx.pod.state.pidns }] };
      case 'target':
        return { namespaces: [join(ctx.targetPid, `target container "${ctx.spec.namespaces.targetId}"`)] };
    }
  }
}
