/**
 * Where the Mesos containerizer keeps its state on disk. Nobody else joins these paths (STYLE 7).
 *
 * Records that must survive a reboot live in the work dir: after a reboot every process is gone, but the
 * records still say which rootfses (writable layers in the provisioner's work-dir store), CNI leases (host-local
 * IPAM files persist in /var/lib/cni) and cgroup names belong to which pod, so removal can release them.
 *
 *   <work_dir>/mesos/
 *     pods/<podId>/pod.json                              pod record: PodSpec, PodState, phase, infra launch
 *     pods/<podId>/containers/<id>/container.json        container record: spec, Mesos state, OCI spec,
 *                                                        launch (pids + start times, conmon pid), termination
 *
 * Everything a reboot makes meaningless lives in the runtime dir (a tmpfs such as /run):
 *
 *   <runtime_dir>/mesos/
 *     runc/                    the OCI runtime's --root: only this instance's containers
 *     exits/<id>               conmon exit files (exit code; mtime = time of exit)
 *     sockets/                 conmon --socket-dir-path (unused with --full-attach, must exist)
 *     pins/                    private self-bind; pins/<podId>/{net,ipc,uts} hold pod namespaces
 *     infra-rootfs/            busybox-static rootfs shared read-only by every infra container
 *     exec/                    scratch of ExecSync (process spec, private log), one temp dir per call
 *     pods/<podId>/
 *       files/                 PodState.dir: hosts, resolv.conf, hostname, shm written by isolators
 *       infra/                 bundle of the infra container (pid mode `pod` only)
 *       containers/<id>/       bundle: config.json, conmon.pid, pidfile, attach, ctl, oom
 *
 * A created container whose bundle was lost to a reboot gets its config.json back from its record.
 */
import path from 'node:path';
import { checkId, InvalidArgumentError, joinPath, MAX_ID_LENGTH } from '../util/index.js';

const INFRA_SUFFIX = '-infra';

/**
 * Validates a pod or container id before it becomes part of a path or a runtime command line (short enough
 * that its infra id still is a valid id).
 */
export function validateId(id: string): string {
  return checkId(id, 'id', MAX_ID_LENGTH - INFRA_SUFFIX.length);
}

/** The runc id of a pod's infra container (cannot collide: container ids never contain `-infra`). */
export function infraId(podId: string): string {
  return `${validateId(podId)}${INFRA_SUFFIX}`;
}

export class MesosPaths {
  /** `<work_dir>/mesos` */
  readonly work: string;
  /** `<runtime_dir>/mesos` */
  readonly run: string;

  constructor(workDir: string, runtimeDir: string) {
    for (const d of [workDir, runtimeDir]) {
      if (!path.isAbsolute(d)) throw new InvalidArgumentError(`directory "${d}" is not absolute`);
    }
    this.work = joinPath(workDir, 'mesos');
    this.run = joinPath(runtimeDir, 'mesos');
  }

  get podRecordsDir(): string {
    return joinPath(this.work, 'pods');
  }
  podRecordDir(podId: string): string {
    return joinPath(this.podRecordsDir, validateId(podId));
  }
  podRecord(podId: string): string {
    return joinPath(this.podRecordDir(podId), 'pod.json');
  }
  containerRecordsDir(podId: string): string {
    return joinPath(this.podRecordDir(podId), 'containers');
  }
  containerRecordDir(podId: string, id: string): string {
    return joinPath(this.containerRecordsDir(podId), validateId(id));
  }
  containerRecord(podId: string, id: string): string {
    return joinPath(this.containerRecordDir(podId, id), 'container.json');
  }

  /** The OCI runtime's state root (`--root`), one per runtime: runc's and crun's state dirs differ. */
  runtimeRoot(kind: 'runc' | 'crun'): string {
    return joinPath(this.run, kind);
  }
  /** Read-only bind mounts of the OCI runtime's binary, run from there (pkg/oci/ro-binary.ts). */
  get runtimeBinDir(): string {
    return joinPath(this.run, 'bin');
  }
  get exitDir(): string {
    return joinPath(this.run, 'exits');
  }
  exitFile(id: string): string {
    return joinPath(this.exitDir, validateId(id));
  }
  get socketDir(): string {
    return joinPath(this.run, 'sockets');
  }
  get pinRoot(): string {
    return joinPath(this.run, 'pins');
  }
  get infraRootfs(): string {
    return joinPath(this.run, 'infra-rootfs');
  }
  get execDir(): string {
    return joinPath(this.run, 'exec');
  }
  get podRuntimeDirs(): string {
    return joinPath(this.run, 'pods');
  }
  podRuntimeDir(podId: string): string {
    return joinPath(this.podRuntimeDirs, validateId(podId));
  }
  podFilesDir(podId: string): string {
    return joinPath(this.podRuntimeDir(podId), 'files');
  }
  infraBundle(podId: string): string {
    return joinPath(this.podRuntimeDir(podId), 'infra');
  }
  bundlesDir(podId: string): string {
    return joinPath(this.podRuntimeDir(podId), 'containers');
  }
  bundle(podId: string, id: string): string {
    return joinPath(this.bundlesDir(podId), validateId(id));
  }
}
