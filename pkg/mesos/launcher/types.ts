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
import type { ExecStream, LinuxResources, Process, RuntimeKind, Spec } from '../../oci/index.js';

export interface LaunchRequest {
  id: string;
  /** Bundle directory: config.json is written here by the launcher. */
  bundle: string;
  spec: Spec;
  logPath: string;
  tty: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  /** Restore from these CRIU images instead of creating: the container is running once `create` returns. */
  restore?: { imagePath: string; workPath: string };
}

/**
 * What the containerizer records about a launched container (in `ContainerRecord.launched` and
 * `PodRecord.infra`): its init and its monitor, each with its start time so a reused pid is never mistaken for
 * it. It is the persisted projection of pkg/oci's `CreatedContainer` (OciLauncher.create is the one place that
 * converts): kept apart because this shape is on disk in every record (plain numbers, `monitor` rather than
 * conmon, whatever monitor a launcher uses), while `CreatedContainer` also carries the attach socket and control
 * fifo that only pkg/oci's users need. Merging them means a record format change with its migration.
 */
export interface Launched {
  pid: number;
  pidStartTime: number;
  monitorPid: number;
  monitorStartTime: number;
}

/** What the OCI runtime reports about itself (`runc features`), as parsed JSON. */
export type RuntimeFeatures = Record<string, unknown>;

/**
 * What the containerizer needs from a launcher; nothing outside pkg/mesos/containerizer sees which launcher
 * runs a container. Every method may be called after a ucri restart for containers an earlier process
 * launched: the launcher keeps no state that the runtime, conmon and the `Launched` facts do not hold.
 */
export interface Launcher {
  readonly name: 'linux' | 'posix';
  /** The OCI runtime behind this launcher (`runc`, `crun`), for verbose status. */
  readonly runtimeKind: RuntimeKind;
  /**
   * The runtime's feature report, or undefined when it has none (older runc); the containerizer reads
   * `mountOptions` from it (recursive read-only mounts). Never throws for a missing subcommand.
   */
  runtimeFeatures(): Promise<RuntimeFeatures | undefined>;
  /** Creates the container; its init is blocked until `start`. Failure leaves nothing behind. */
  create(req: LaunchRequest, signal: AbortSignal): Promise<Launched>;
  start(id: string): Promise<void>;
  /**
   * Checkpoints the running container's processes with CRIU into `imagePath` (CRIU's log in `workPath`).
   * FailedPrecondition with what CRIU reported when it cannot; NotFound when the container is gone.
   */
  checkpoint(
    id: string,
    opts: { imagePath: string; workPath: string; leaveRunning: boolean },
    signal: AbortSignal,
  ): Promise<void>;
  /** Signals the container's init (all processes with `all`). NotFound when it is gone. */
  kill(id: string, signal: string | number, all?: boolean): Promise<void>;
  /** Resolves with the exit code once the container's init has exited (works across ucri restarts). */
  waitExit(id: string, known?: Launched, signal?: AbortSignal): Promise<number>;
  /**
   * The exit code recorded for the container's init, or undefined when none is recorded yet (still running,
   * or its monitor died before writing it). Does not wait.
   */
  readExit(id: string): Promise<number | undefined>;
  /**
   * True while the container's init or its monitor (conmon) still runs. Pids are compared with their start
   * times, so a reused pid reads as dead. A dead init with a live monitor is alive: the exit is being written.
   */
  alive(l: Launched): Promise<boolean>;
  /** Removes the runtime's state of the container, killing it first; idempotent. */
  destroy(id: string): Promise<void>;
  /** Runs `process` in the container to completion (ExecSync); `timeoutMs` 0 waits without limit. */
  exec(id: string, process: Process, timeoutMs: number, signal: AbortSignal): Promise<ExecResult>;
  /** Starts `process` with live stdio (terminal when `process.terminal`); see oci/exec-stream.ts. */
  execStream(id: string, process: Process, stdin: boolean, signal: AbortSignal): Promise<ExecStream>;
  /** Changes the container's limits through the runtime (`runc update`). */
  update(id: string, resources: LinuxResources): Promise<void>;
  /** Reopens the CRI log file; resolves once `logPath` exists again. */
  reopenLog(id: string, bundle: string, logPath: string): Promise<void>;
  /** Ids the runtime knows (for orphan cleanup at recovery). */
  list(): Promise<string[]>;
  /**
   * Releases what the launcher holds on the host for its own calls (the runtime binary's read-only mount) at
   * a clean daemon stop; containers and their monitors are untouched.
   */
  close?(): Promise<void>;
  // Interactive exec and attach sessions (CRI streaming) join this contract here.
}
