/**
 * The launcher contract (Mesos `Launcher`): starts and tracks container processes.
 *
 * linux: conmon + an OCI runtime (runc default, crun where the host allows). `create` runs `runc create`
 *        under conmon and returns with the container's init blocked; the containerizer then isolates the
 *        pid and calls `start`. conmon outlives ucri; exits are read from conmon's exit file.
 * posix: for hosts without namespaces: the process runs directly (still under conmon for logs and exit
 *        files), with no isolation beyond what the spec's cgroups give.
 */
import type { ExecResult } from '../../containerizer/index.js';
import type { ExecStream, LinuxResources, Process, Spec } from '../../oci/index.js';

export interface LaunchRequest {
  id: string;
  /** Bundle directory: config.json is written here by the launcher. */
  bundle: string;
  spec: Spec;
  logPath: string;
  tty: boolean;
  stdin: boolean;
  stdinOnce: boolean;
}

export interface Launched {
  pid: number;
  pidStartTime: number;
  monitorPid: number;
  monitorStartTime: number;
}

export interface Launcher {
  readonly name: 'linux' | 'posix';
  /** Creates the container; its init is blocked until `start`. Failure leaves nothing behind. */
  create(req: LaunchRequest, signal: AbortSignal): Promise<Launched>;
  start(id: string): Promise<void>;
  /** Signals the container's init (all processes with `all`). NotFound when it is gone. */
  kill(id: string, signal: string | number, all?: boolean): Promise<void>;
  /** Resolves with the exit code once the container's init has exited (works across ucri restarts). */
  waitExit(id: string, known?: Launched, signal?: AbortSignal): Promise<number>;
  /** Removes the runtime's state of the container, killing it first; idempotent. */
  destroy(id: string): Promise<void>;
  exec(id: string, process: Process, timeoutMs: number, signal: AbortSignal): Promise<ExecResult>;
  /** Starts `process` with live stdio (terminal when `process.terminal`); see oci/exec-stream.ts. */
  execStream(id: string, process: Process, stdin: boolean, signal: AbortSignal): Promise<ExecStream>;
  update(id: string, resources: LinuxResources): Promise<void>;
  /** Reopens the CRI log file; resolves once `logPath` exists again. */
  reopenLog(id: string, bundle: string, logPath: string): Promise<void>;
  /** Ids the runtime knows (for orphan cleanup at recovery). */
  list(): Promise<string[]>;
}
