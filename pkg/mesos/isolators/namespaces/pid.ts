/**
 * namespaces/pid: the container's PID namespace by CRI NamespaceMode. POD joins the pod's shared namespace
 * (held by the pod's infra process, `PodState.infraPid`); CONTAINER gets a new one; NODE stays in the host's
 * (no entry); TARGET joins the namespace of another container (`ContainerContext.targetPid`, its init pid).
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
        return { namespaces: [join(ctx.pod.state.infraPid, `pod "${ctx.pod.spec.id}"`)] };
      case 'target':
        return { namespaces: [join(ctx.targetPid, `target container "${ctx.spec.namespaces.targetId}"`)] };
    }
  }
}
