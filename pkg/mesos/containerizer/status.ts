/**
 * A container's runtime facts as the CRI status verbs see them (state, pid, verbose info). The other read-mostly
 * operations have a file each: exec-sync.ts, reopen-log.ts, update.ts, usage.ts.
 */
import type { ContainerRuntime } from '../../containerizer/index.js';
import { FailedPreconditionError } from '../../util/index.js';
import type { Engine } from './engine.js';
import type { Container, MesosState } from './records.js';

const CRI_STATE: Record<MesosState, ContainerRuntime['state']> = {
  PROVISIONING: 'created',
  PREPARING: 'created',
  ISOLATING: 'created',
  RUNNING: 'running',
  TERMINATED: 'exited',
  DESTROYING: 'unknown',
};

/** The container's runtime facts; `info` carries the Mesos state and paths for verbose status. */
export function containerRuntimeOf(e: Engine, c: Container): ContainerRuntime {
  const r = c.rec;
  const running = r.state === 'RUNNING' && !r.termination;
  const user = r.oci.process?.user;
  return {
    state: r.termination ? 'exited' : CRI_STATE[r.state],
    mesosState: r.state,
    pid: running ? (r.launched?.pid ?? 0) : 0,
    startedAt: r.startedAt,
    termination: r.termination,
    user: user ? { uid: user.uid, gid: user.gid, supplementalGroups: [...(user.additionalGids ?? [])] } : undefined,
    info: {
      mesosState: r.state,
      podId: c.pod.id,
      launcher: e.launcher.name,
      runtime: e.launcher.runtimeKind,
      bundle: c.bundle,
      rootfs: r.provisioned.rootfs,
      backend: r.provisioned.backend,
      cgroup: r.cgroup,
      imageKind: r.image.kind,
      stopSignal: r.stopSignal || 'SIGTERM',
      pid: r.launched?.pid ?? 0,
      conmonPid: r.launched?.monitorPid ?? 0,
    },
  };
}

/** Exec and log reopen need a live process. */
export function requireRunning(c: Container): void {
  if (c.rec.state !== 'RUNNING' || c.rec.termination) {
    throw new FailedPreconditionError(`container "${c.id}" is not running`);
  }
}
