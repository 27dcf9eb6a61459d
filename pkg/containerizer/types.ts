import type { Duplex, Readable, Writable } from 'node:stream';
import type {
  ContainerRuntime,
  ContainerSpec,
  ContainerUsage,
  ExecResult,
  PodRuntime,
  PodSpec,
  RecoveredContainer,
  Resources,
  Termination,
} from './pods.js';
import type { ImageFsUsage } from './images.js';

/**
 * Domain types of the containerizer layer. They know nothing of CRI or gRPC: pkg/cri translates CRI
 * messages into these, and lower layers (pkg/mesos, pkg/docker) implement the interfaces.
 */

/** One readiness condition of a runtime (the CRI RuntimeReady / NetworkReady conditions). */
export interface Condition {
  ready: boolean;
  /** CamelCase reason when not ready, e.g. `NoCNIConfig`; empty when ready. */
  reason: string;
  /** Human-readable explanation when not ready. */
  message: string;
}

/** Readiness of a containerizer: can it run containers, can it give pods a network. */
export interface Conditions {
  runtime: Condition;
  network: Condition;
}

/** Options of Containerizer.createContainer. */
export interface CreateContainerOptions {
  /**
   * Makes the caller's own record of the create durable (a record it wrote without fsync before the call).
   * A containerizer that keeps durable records of its own calls it once, concurrently with making those
   * durable (one round of journal commits instead of two), and resolves only after both. It may call it as
   * soon as `intent` resolved, before its own records are final, so that this sync overlaps its remaining
   * steps (the Mesos containerizer does); a create that fails afterwards is rolled back as before. A containerizer without records of its own never calls it: the caller then writes durably
   * itself afterwards. Either way, the caller's recovery must accept a record of a create still in progress
   * whose container the containerizer recovered (RecoveredContainer other than `lost` without
   * `wasCreated`) as created, since the create may have been complete when the daemon died.
   */
  durableWith?: () => Promise<void>;
  /**
   * The caller's record of intent (CRI `creating`), still being written when the call starts, so that the
   * containerizer's first steps overlap it. The containerizer awaits it (and fails the create, undoing its
   * own steps, when it rejects) before any side effect outside its own records and store dirs: a mount, a
   * runtime or docker container, a cgroup, a lease another process holds. Work that its own recovery removes
   * by the absence of its records (its record and bundle dirs, a rootfs provisioned but not mounted into a
   * dir of its own store) may run before. `durableWith` is called only after it resolved.
   */
  intent?: Promise<void>;
}

/** What a containerizer can do, as reported per CRI runtime handler. */
export interface HandlerFeatures {
  recursiveReadOnlyMounts: boolean;
  userNamespaces: boolean;
}

/** How removeContainer may defer its work (Containerizer.removeContainer). */
export interface RemoveContainerOptions {
  later?: boolean;
  releaseAfter?: Promise<unknown>;
}

/**
 * A containerizer (Mesos `Containerizer`): one way of running pods and containers, selected by the CRI
 * runtime handler. Ids are chosen by the caller (pkg/cri) and are unique across pods and containers.
 *
 * Call order per pod: runPod → (createContainer → startContainer → stopContainer → removeContainer)* →
 * stopPod → removePod. Contract for every method:
 * - Operations on one id are serialized by the containerizer; different ids never wait for each other.
 * - stop*, remove*, and destroy are idempotent: repeating them, or calling them for an id the containerizer
 *   does not know, succeeds.
 * - Other methods throw NotFoundError for unknown ids.
 * - A method that fails leaves nothing half-made: what it created is rolled back under its own deadline,
 *   not the (possibly aborted) request's.
 */
export interface Containerizer {
  /** The CRI runtime handler names this containerizer serves (the first is its own name). */
  readonly handlers: readonly string[];
  /** What the handler supports. */
  readonly features: HandlerFeatures;
  /**
   * Current readiness. Cheap and side-effect free; called on every CRI Status. Never throws: a failed
   * probe is reported as a condition that is not ready.
   */
  conditions(signal?: AbortSignal): Promise<Conditions>;
  /**
   * Whether the containerizer can take new pods right now (the Docker containerizer: dockerd answers).
   * Absent means always. Status lists a runtime handler only while its containerizer is available.
   */
  available?(signal?: AbortSignal): Promise<boolean>;

  /**
   * Called once at start-up with the pods and containers the caller has records of. Reattaches to live
   * ones, collects exits that happened while ucri was down, and destroys orphans (runtime state with no
   * record). Returns what it found for every container id given.
   */
  recover(known: { pods: PodSpec[]; containers: ContainerSpec[] }): Promise<RecoveredContainer[]>;
  /**
   * Optional, for a containerizer whose recover() reported containers `unknown` because its backend did not
   * answer: resolves, once the backend answers and recovery is complete, with what it found for those
   * containers (same terms as recover()). Pods it then finds lost are reported through podRuntime (ready:
   * false) and waitPodLost. Never rejects; never resolves when the containerizer is closed first.
   */
  deferredRecovery?(): Promise<RecoveredContainer[]>;

  /** Creates the pod: namespaces pinned, network attached, cgroup made. */
  runPod(spec: PodSpec, signal: AbortSignal): Promise<PodRuntime>;
  /** Stops every container of the pod and releases its network (CNI DEL); keeps the pod's records. */
  stopPod(podId: string, signal: AbortSignal): Promise<void>;
  /**
   * Removes what stopPod left: namespace pins, cgroup, runtime dirs (stopping the pod first if it was not).
   * With `later`, a containerizer may return once the pod is stopped and its id unknown to every other call,
   * and release the rest in the background, as removeContainer does (shutdown waits for those releases).
   */
  removePod(podId: string, signal: AbortSignal, opts?: { later?: boolean }): Promise<void>;
  /** The pod's runtime facts (IPs may change after a network re-setup); undefined when unknown. */
  podRuntime(podId: string): PodRuntime | undefined;
  /**
   * Optional. Resolves with a reason once the pod stops being ready by itself (not through stopPod: e.g.
   * the process holding its shared pid namespace died); rejects NotFound when the pod is unknown or removed.
   * Never resolving is fine for pods that cannot be lost that way.
   */
  waitPodLost?(podId: string): Promise<string>;
  /**
   * Optional. Daemon shutdown: stops watchers and releases what only a running daemon needs (e.g. a mount
   * that no pod uses any more); every pod and container keeps running. The object is unusable afterwards.
   */
  shutdown?(): Promise<void>;

  /**
   * Provisions the rootfs and prepares the isolators (Mesos PROVISIONING → PREPARING); no process yet.
   * The image must already be in the store. See CreateContainerOptions for `durableWith`.
   */
  createContainer(
    spec: ContainerSpec,
    pod: PodSpec,
    signal: AbortSignal,
    opts?: CreateContainerOptions,
  ): Promise<ContainerRuntime>;
  /** Launches and isolates the process, then lets it run (ISOLATING → RUNNING). */
  startContainer(id: string, signal: AbortSignal): Promise<ContainerRuntime>;
  /**
   * Sends the stop signal (the image's StopSignal, else SIGTERM), then SIGKILL after `timeoutSeconds`
   * (0: at once). Resolves when the process is gone.
   */
  stopContainer(id: string, timeoutSeconds: number, signal: AbortSignal): Promise<void>;
  /**
   * Removes a stopped or created container: rootfs, cgroup, runtime dirs. Kills it first if running. With
   * `later`, a containerizer may return once the process is gone and the id unknown to every other call, and
   * release the rest in the background (a crash meanwhile leaves an orphan its recovery destroys; removePod
   * and shutdown wait for those releases). Without it, everything is released when this returns.
   * `releaseAfter` (with `later`): the background release waits for it (settled either way) before it starts,
   * so that the caller's own answer is not slowed by it.
   */
  removeContainer(id: string, signal: AbortSignal, opts?: RemoveContainerOptions): Promise<void>;
  /** Current runtime state. */
  containerRuntime(id: string): ContainerRuntime;
  /** Resolves when the container's process ends (at once if it already has). */
  wait(id: string): Promise<Termination>;
  /** Changes the cgroup limits of a running or created container. */
  update(id: string, resources: Resources, signal: AbortSignal): Promise<void>;
  /** Cheap usage figures from the container's cgroup and writable layer. */
  usage(id: string): Promise<ContainerUsage>;
  /**
   * Changes a ready pod's own cgroup limits (pod overhead + the containers' sum) in place; its containers
   * keep running. FailedPrecondition when the pod is not ready. Optional: a containerizer without pod
   * cgroups leaves it out and the CRI verb answers UNIMPLEMENTED for its handler.
   */
  updatePod?(podId: string, resources: Resources, signal: AbortSignal): Promise<void>;
  /**
   * Optional: where this containerizer keeps containers' writable layers and how much they use (ImageFsInfo
   * `container_filesystems`); undefined or absent when they share the image filesystem.
   */
  containerFsInfo?(): Promise<ImageFsUsage | undefined>;
  /** Usage of a whole pod (its cgroup). */
  podUsage(podId: string): Promise<ContainerUsage>;
  /** Runs a command in the container and collects its output; DeadlineExceeded after `timeoutSeconds` (0: none). */
  execSync(id: string, cmd: string[], timeoutSeconds: number, signal: AbortSignal): Promise<ExecResult>;
  /** Makes the log writer reopen the container's log file (after kubelet rotated it). */
  reopenLog(id: string): Promise<void>;
  /**
   * Checkpoints a running container (CRIU) into an archive at `location` (absolute, in an existing dir),
   * leaving it running unless `leaveRunning` is false. FailedPrecondition naming what CRIU reported when the
   * host or the container cannot be checkpointed. Optional: absent, the CRI verb is UNIMPLEMENTED.
   */
  checkpointContainer?(
    id: string,
    opts: { location: string; leaveRunning: boolean },
    signal: AbortSignal,
  ): Promise<void>;
  /**
   * Validates a checkpoint archive (InvalidArgument when it is not one, NotFound when absent) and returns the
   * image it was taken from, for a CreateContainer that restores it (`ContainerSpec.restore`).
   */
  inspectCheckpoint?(archive: string, signal: AbortSignal): Promise<{ image: { id: string; ref: string } }>;

  /**
   * Starts `cmd` in a running container with live stdio (CRI Exec through the streaming server). With a
   * TTY, output comes on `stdout` only. The process and its children are killed and reaped by `close()`,
   * and when `signal` aborts. FailedPrecondition when the container is not running.
   */
  exec(id: string, cmd: string[], opts: StreamOptions, signal: AbortSignal): Promise<StreamSession>;
  /**
   * Attaches to the container's own stdio through its monitor (CRI Attach). Output is fanned out to every
   * attached session; stdin only when the container was created with `stdin`. `close()` detaches (and
   * closes the container's stdin when it was created with `stdinOnce`); the container keeps running.
   */
  attach(id: string, opts: StreamOptions, signal: AbortSignal): Promise<StreamSession>;
  /**
   * Opens a TCP connection to `port` on the pod's loopback, inside its network namespace (the host's for a
   * host-network pod). Unavailable with a clear message when nothing listens there.
   */
  portForward(podId: string, port: number, signal: AbortSignal): Promise<Duplex>;
}

/** Which stdio streams a streaming session carries. */
export interface StreamOptions {
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface TerminalSize {
  width: number;
  height: number;
}

/**
 * One live exec or attach session, as the streaming server drives it. Streams are undefined when not
 * asked for (and `stderr` always with a TTY). `stdin.end()` half-closes the process's stdin.
 */
export interface StreamSession {
  stdin: Writable | undefined;
  stdout: Readable | undefined;
  stderr: Readable | undefined;
  /** Sets the terminal size (TTY sessions; ignored otherwise). */
  resize(size: TerminalSize): void;
  /**
   * Resolves when the session is over: for exec when the process has exited and been reaped (its exit
   * code); for attach when the container exited (its exit code) or the session was closed (undefined).
   */
  done: Promise<{ exitCode: number | undefined }>;
  /** Ends the session and releases every process, socket and file descriptor it holds; idempotent. */
  close(): Promise<void>;
}
