/**
 * The Docker containerizer (Mesos `DockerContainerizer`, mesos-containerizer.md §7), serving the CRI
 * runtime handler `docker` through dockerd's Engine API. Where Mesos shelled out to the docker CLI, found
 * its containers by a name prefix and lost them when dockerd restarted, this one labels every container
 * (instance, pod and CRI ids), recovers by label, and follows each container's exit across dockerd restarts:
 * a container still running after a `--live-restore` restart is reattached (exit watch and log follower),
 * one that dockerd's restart ended is reported exited with the code dockerd recorded.
 *
 * State lives in dockerd (containers, labels), in the namespace pins under `<runtime_dir>/docker/ns` and in
 * pkg/cni's checkpoints under `<work_dir>/docker/cni`; the maps here are a cache rebuilt by recover().
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { CniAttacher, scanCniConfigs } from '../cni/index.js';
import type {
  Conditions,
  ContainerRuntime,
  ContainerSpec,
  CreateContainerOptions,
  ContainerUsage,
  Containerizer,
  ExecResult,
  HandlerFeatures,
  PodRuntime,
  PodSpec,
  RecoveredContainer,
  Resources,
  StreamOptions,
  StreamSession,
  Termination,
} from '../containerizer/index.js';
import { usageFromCounters } from '../containerizer/index.js';
import { cgroupsOfPid, diskUsage, ensurePinRoot, readCgroupStats } from '../sys/index.js';
import {
  errorMessage,
  FailedPreconditionError,
  isKind,
  KeyedLock,
  logger,
  NotFoundError,
  UnavailableError,
} from '../util/index.js';
import { type ContainerInspect, EngineApi } from './api.js';
import { DockerClient } from './client.js';
import { LogFollower } from './log-writer.js';
import { type DockerPod, ensureImage, type PodDeps, removePod, runPod, stopPod } from './pod.js';
import { type KnownState, recoverFromDockerd, recoverLocal, registerUnknown } from './recover.js';
import type { DockerContainer } from './state.js';
import { attachSession, execSession, execSync } from './sessions.js';
import {
  containerBody,
  containerNameOf,
  parseTimeNs,
  resourcesBody,
  terminationOf,
  unknownCapability,
} from './translate.js';
import { portForward } from './port-forward.js';
import type { PullSource } from './pull-source.js';

const log = logger('docker');

export interface DockerContainerizerOptions {
  /** `--docker_socket`. */
  socket: string;
  /** `pause_image`: the infra container's image. */
  pauseImage: string;
  cniConfigDir: string;
  cniPluginDirs: readonly string[];
  workDir: string;
  runtimeDir: string;
  podCidr?: () => string;
  /** Registry credentials and mirror for an image reference (from ucri's registry config). */
  pullSource?: PullSource;
}

/** How often the background sweep re-measures the writable layers of live containers. */
const LAYER_SWEEP_MS = 15_000;

const LOST: Termination = {
  exitCode: 255,
  reason: 'Unknown',
  message: 'the container vanished from dockerd',
  finishedAt: 0n,
};

export class DockerContainerizer implements Containerizer {
  readonly handlers = ['docker'] as const;
  readonly features: HandlerFeatures = { recursiveReadOnlyMounts: false, userNamespaces: false };
  readonly client: DockerClient;
  readonly api: EngineApi;
  readonly pods = new Map<string, DockerPod>();
  readonly containers = new Map<string, DockerContainer>();
  readonly podDeps: PodDeps;
  private readonly locks = new KeyedLock();
  private closed = false;
  /** Recovery waiting for dockerd (it did not answer at start-up); undefined once complete or never needed. */
  private deferred: Promise<RecoveredContainer[]> | undefined;
  /** The writable-layer sweep's timer, armed by the first stats call. */
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  /** Capabilities this dockerd refused as unknown: left out of `ALL` and privileged from then on. */
  private readonly unknownCaps = new Set<string>();

  constructor(readonly opts: DockerContainerizerOptions) {
    this.client = new DockerClient(opts.socket);
    this.api = new EngineApi(this.client);
    const instance = createHash('sha256').update(path.resolve(opts.workDir)).digest('hex').slice(0, 16);
    this.podDeps = {
      api: this.api,
      cni: new CniAttacher({
        configDir: opts.cniConfigDir,
        pluginDirs: opts.cniPluginDirs,
        stateDir: path.join(opts.workDir, 'docker', 'cni'),
        podCidr: opts.podCidr,
      }),
      pinRoot: path.join(opts.runtimeDir, 'docker', 'ns'),
      pauseImage: opts.pauseImage,
      instance,
      pullSource: opts.pullSource ?? (async (ref) => ({ ref, auth: undefined })),
    };
  }

  async conditions(signal?: AbortSignal): Promise<Conditions> {
    let runtime = { ready: true, reason: '', message: '' };
    try {
      await this.client.ping(signal);
    } catch (err) {
      runtime = { ready: false, reason: 'DockerdUnavailable', message: errorMessage(err) };
    }
    const scan = await scanCniConfigs(this.opts.cniConfigDir, this.opts.cniPluginDirs);
    const network =
      scan.networks.length > 0
        ? { ready: true, reason: '', message: '' }
        : {
            ready: false,
            reason: scan.reason ?? 'NoCNIConfig',
            message: `no usable CNI network config: ${scan.problems.join('; ')}`,
          };
    return { runtime, network };
  }

  /** Whether dockerd answers now (the composing containerizer lists `docker` only then). */
  async available(signal?: AbortSignal): Promise<boolean> {
    return this.client
      .ping(signal)
      .then(() => true)
      .catch(() => false);
  }

  async recover(known: { pods: PodSpec[]; containers: ContainerSpec[] }): Promise<RecoveredContainer[]> {
    await ensurePinRoot(this.podDeps.pinRoot);
    await recoverLocal(this, known);
    try {
      return await recoverFromDockerd(this, known);
    } catch (err) {
      if (!isKind(err, 'Unavailable')) throw err;
      log.warn(
        { err: errorMessage(err), pods: known.pods.length, containers: known.containers.length },
        'dockerd does not answer: docker pods are recovered once it does',
      );
      const unknown = registerUnknown(this, known);
      const later = this.recoverWhenDockerdAnswers(known);
      this.deferred = later;
      void later.then(() => {
        if (this.deferred === later) this.deferred = undefined;
      });
      return unknown;
    }
  }

  deferredRecovery(): Promise<RecoveredContainer[]> {
    return this.deferred ?? Promise.resolve([]);
  }

  /** Retries phase 2 of recovery every second until dockerd answers (or ucri closes). */
  private async recoverWhenDockerdAnswers(known: KnownState): Promise<RecoveredContainer[]> {
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      if (this.closed) return new Promise<RecoveredContainer[]>(() => undefined);
      try {
        const found = await recoverFromDockerd(this, known);
        log.info({ containers: found.length }, 'dockerd answers: docker pods recovered');
        return found;
      } catch (err) {
        if (!isKind(err, 'Unavailable')) log.warn({ err: errorMessage(err) }, 'deferred docker recovery failed');
      }
    }
  }

  /**
   * Before anything that changes dockerd's state: a recovery still waiting for dockerd must finish first
   * (else it could take what is made now for an orphan). UNAVAILABLE naming the socket while dockerd is down.
   */
  private async settle(signal?: AbortSignal): Promise<void> {
    if (!this.deferred) return;
    await this.client.ping(signal);
    await this.deferred;
  }

  async runPod(spec: PodSpec, signal: AbortSignal): Promise<PodRuntime> {
    return this.locks.run(spec.id, async () => {
      await this.settle(signal);
      await ensurePinRoot(this.podDeps.pinRoot);
      try {
        const pod = await runPod(this.podDeps, spec, signal);
        this.pods.set(spec.id, pod);
        return this.podRuntime(spec.id)!;
      } catch (err) {
        // Undo under a deadline of its own: the request's may be what just expired.
        const undo = AbortSignal.timeout(60_000);
        await stopPod(this.podDeps, spec.id, undo)
          .then(() => removePod(this.podDeps, spec.id, undo))
          .catch((e: unknown) => log.warn({ pod: spec.id, err: errorMessage(e) }, 'undo of a failed runPod failed'));
        throw err;
      }
    });
  }

  async stopPod(podId: string, signal: AbortSignal): Promise<void> {
    await this.locks.run(podId, async () => {
      for (const [id, c] of this.containers) {
        if (c.spec.podId === podId) await this.stopContainer(id, 0, signal);
      }
      await stopPod(this.podDeps, podId, signal);
      const pod = this.pods.get(podId);
      if (pod) pod.ips = [];
    });
  }

  async removePod(podId: string, signal: AbortSignal): Promise<void> {
    await this.locks.run(podId, async () => {
      for (const [id, c] of [...this.containers]) {
        if (c.spec.podId === podId) await this.removeContainer(id, signal);
      }
      await removePod(this.podDeps, podId, signal);
      this.pods.delete(podId);
    });
  }

  podRuntime(podId: string): PodRuntime | undefined {
    const pod = this.pods.get(podId);
    if (!pod) return undefined;
    return {
      netnsPath: pod.netns,
      ips: pod.ips,
      cgroup: pod.spec.cgroupParent,
      ...(pod.lost ? { ready: false } : {}),
      info: { containerizer: 'docker', infraId: pod.infraId, ...(pod.lost ? { lost: pod.lost } : {}) },
    };
  }

  /** Resolves once the pod's infra container ended by itself (across dockerd restarts). */
  async waitPodLost(podId: string): Promise<string> {
    if (this.deferred) await this.deferred;
    const pod = this.pods.get(podId);
    if (!pod) throw new NotFoundError(`pod "${podId}" not found in the docker containerizer`);
    if (!pod.lost) {
      const info = await this.untilExit(pod.infraId);
      if (this.pods.get(podId) !== pod) throw new NotFoundError(`pod "${podId}" was removed`);
      pod.lost = info
        ? `the infra container exited (${info.State.ExitCode}${info.State.Error ? `: ${info.State.Error}` : ''})`
        : 'the infra container vanished from dockerd';
    }
    return pod.lost;
  }

  private get(id: string): DockerContainer {
    const c = this.containers.get(id);
    if (!c) throw new NotFoundError(`container "${id}" not found in the docker containerizer`);
    return c;
  }

  async createContainer(
    spec: ContainerSpec,
    pod: PodSpec,
    signal: AbortSignal,
    opts: CreateContainerOptions = {},
  ): Promise<ContainerRuntime> {
    return this.locks.run(spec.id, async () => {
      // Everything below is outside ucri's records (dockerd's image and container): after the caller's intent.
      await opts.intent;
      await this.settle(signal);
      const p = this.pods.get(pod.id);
      if (!p) throw new FailedPreconditionError(`pod "${pod.id}" is not running in the docker containerizer`);
      await ensureImage(this.podDeps, spec.image.ref, spec.image.id, signal);
      const created = await this.create(spec, pod, p.infraId, signal);
      const runtime: ContainerRuntime = {
        state: 'created',
        mesosState: 'CREATED',
        pid: 0,
        startedAt: 0n,
        termination: undefined,
        user: undefined,
        info: { containerizer: 'docker', dockerId: created.Id },
      };
      this.containers.set(spec.id, {
        spec,
        dockerId: created.Id,
        runtime,
        cgroup: '',
        follower: undefined,
        exit: undefined,
      });
      return runtime;
    });
  }

  /**
   * POST /containers/create under the container's deterministic name: one a crash left behind is replaced,
   * and a capability an older dockerd refuses as unknown is learnt and left out of `ALL`/privileged.
   */
  private async create(
    spec: ContainerSpec,
    pod: PodSpec,
    infraId: string,
    signal: AbortSignal,
  ): Promise<{ Id: string }> {
    const name = containerNameOf(spec.id);
    for (let attempt = 0; ; attempt++) {
      const body = await containerBody(spec, pod, infraId, this.podDeps.instance, this.unknownCaps);
      try {
        return await this.api.createContainer(name, body, signal);
      } catch (err) {
        if (isKind(err, 'AlreadyExists') && attempt === 0) {
          await this.api.removeContainer(name, signal);
          continue;
        }
        const cap = isKind(err, 'InvalidArgument') ? unknownCapability(errorMessage(err)) : undefined;
        const named = spec.capabilities.add.some((c) => `CAP_${c.toUpperCase().replace(/^CAP_/, '')}` === cap);
        if (!cap || named || this.unknownCaps.has(cap) || attempt > 8) throw err;
        log.info({ capability: cap }, 'dockerd does not know this capability: left out of ALL and privileged');
        this.unknownCaps.add(cap);
      }
    }
  }

  async startContainer(id: string, signal: AbortSignal): Promise<ContainerRuntime> {
    return this.locks.run(id, async () => {
      const c = this.get(id);
      // The log follower starts before the process, so not a line is missed.
      await this.api.startContainer(c.dockerId, signal);
      await this.attachRunning(c);
      return c.runtime;
    });
  }

  /** Takes a running container's facts from dockerd and arms its log follower and exit watch. */
  async attachRunning(c: DockerContainer): Promise<void> {
    const info = await this.api.inspectContainer(c.dockerId);
    c.runtime = {
      ...c.runtime,
      state: info.State.Running ? 'running' : 'exited',
      mesosState: info.State.Running ? 'RUNNING' : 'EXITED',
      pid: info.State.Pid,
      startedAt: parseTimeNs(info.State.StartedAt),
    };
    c.upperDir = info.GraphDriver?.Data?.UpperDir || undefined;
    if (info.State.Pid > 0) {
      const cg = await cgroupsOfPid(info.State.Pid).catch(() => new Map<string, string>());
      c.cgroup = (cg.get('memory') ?? cg.get('') ?? '').replace(/^\//, '');
    }
    this.follow(c, info.Config.Tty);
    if (!c.exit) c.exit = this.watch(c);
  }

  private follow(c: DockerContainer, tty: boolean): void {
    if (!c.spec.logPath) return;
    c.follower = new LogFollower(this.api, c.dockerId, c.spec.logPath, tty);
    c.follower.start();
  }

  /**
   * Waits until dockerd reports container `ref` not running, across dockerd restarts: a wait broken by
   * dockerd going away (stopped, restarted, crashed) is retried until it answers again, so no exit is lost.
   * `afterOutage` runs each time dockerd answers again after being away. Resolves with the container's last
   * inspection, undefined when dockerd no longer has it; never once the containerizer is closed.
   */
  private async untilExit(
    ref: string,
    afterOutage?: (info: ContainerInspect) => Promise<void>,
  ): Promise<ContainerInspect | undefined> {
    let outage = false;
    for (;;) {
      if (this.closed) return new Promise<undefined>(() => undefined);
      try {
        await this.api.waitContainer(ref);
      } catch (err) {
        if (isKind(err, 'NotFound')) return undefined;
        outage = true;
        await new Promise((r) => setTimeout(r, 500));
      }
      let info: ContainerInspect;
      try {
        info = await this.api.inspectContainer(ref);
      } catch (err) {
        if (isKind(err, 'NotFound')) return undefined;
        outage = true;
        continue; // dockerd down: wait for it
      }
      if (outage) {
        outage = false;
        await afterOutage?.(info);
      }
      if (!info.State.Running) return info;
    }
  }

  /** Follows a container until it ends (see untilExit) and records how it ended. */
  private async watch(c: DockerContainer): Promise<Termination> {
    const info = await this.untilExit(c.dockerId, async (now) => {
      // dockerd was away: its log stream ended with it. A new follower resumes after the last line written:
      // the rest of the output of a container that lived through it (live-restore), or what one that
      // dockerd stopped wrote before its end.
      if (c.follower && (await settled(c.follower.finished()))) this.follow(c, now.Config.Tty);
    });
    if (!info) return this.ended(c, { ...LOST, finishedAt: parseTimeNs(new Date().toISOString()) });
    return this.ended(c, terminationOf(info));
  }

  private async ended(c: DockerContainer, term: Termination): Promise<Termination> {
    // Let the follower drain what dockerd has of the container's output before reporting the exit.
    await Promise.race([c.follower?.finished(), new Promise((r) => setTimeout(r, 2000))]);
    c.runtime = { ...c.runtime, state: 'exited', mesosState: 'EXITED', pid: 0, termination: term };
    return term;
  }

  async stopContainer(id: string, timeoutSeconds: number, signal: AbortSignal): Promise<void> {
    const c = this.containers.get(id);
    if (c?.runtime.state === 'unknown') throw this.stateUnknown(id);
    if (c?.runtime.state !== 'running') return;
    try {
      await this.api.stopContainer(c.dockerId, Math.max(0, Math.floor(timeoutSeconds)), signal);
    } catch (err) {
      if (!isKind(err, 'NotFound')) throw err;
    }
    if (c.exit) await c.exit;
  }

  async removeContainer(id: string, signal: AbortSignal): Promise<void> {
    await this.locks.run(id, async () => {
      const c = this.containers.get(id);
      await c?.follower?.stop();
      try {
        await this.api.removeContainer(c?.dockerId ?? containerNameOf(id), signal);
      } catch (err) {
        if (!isKind(err, 'NotFound')) throw err;
      }
      this.containers.delete(id);
    });
  }

  containerRuntime(id: string): ContainerRuntime {
    return this.get(id).runtime;
  }

  /** A container whose state cannot be told before dockerd answers (recovery deferred). */
  private stateUnknown(id: string): UnavailableError {
    return new UnavailableError(
      `dockerd is not answering on ${this.opts.socket}: the state of container "${id}" is unknown until it does`,
    );
  }

  async wait(id: string): Promise<Termination> {
    const c = this.get(id);
    if (c.runtime.termination) return c.runtime.termination;
    if (c.runtime.state === 'unknown') throw this.stateUnknown(id);
    if (!c.exit) throw new FailedPreconditionError(`container "${id}" was never started`);
    return c.exit;
  }

  async update(id: string, resources: Resources, signal: AbortSignal): Promise<void> {
    const c = this.get(id);
    await this.api.updateContainer(c.dockerId, resourcesBody(resources), signal);
  }

  async usage(id: string): Promise<ContainerUsage> {
    const c = this.get(id);
    const s = c.cgroup && c.runtime.state === 'running' ? await readCgroupStats(c.cgroup).catch(() => ({})) : {};
    const u = usageFromCounters(s);
    this.armSweep();
    if (c.layer && c.upperDir) {
      u.writableLayerBytes = c.layer.bytes;
      u.writableLayerInodes = c.layer.inodes;
      u.writableLayerMountpoint = c.upperDir;
    }
    return u;
  }

  /**
   * Writable layers are measured in the background (walking a tree per stats call would make kubelet's
   * frequent ListContainerStats cost a du of every container): one sweep at a time, the first right away,
   * then every LAYER_SWEEP_MS while stats are asked for; the timer never keeps ucri alive.
   */
  private armSweep(): void {
    if (this.sweepTimer || this.closed) return;
    const tick = (): void => {
      this.sweeping ??= this.sweep().finally(() => {
        this.sweeping = undefined;
      });
    };
    tick();
    this.sweepTimer = setInterval(tick, LAYER_SWEEP_MS);
    this.sweepTimer.unref();
  }

  private async sweep(): Promise<void> {
    for (const c of [...this.containers.values()]) {
      if (this.closed) return;
      if (c.runtime.state !== 'running' && c.runtime.state !== 'created') continue;
      if (!c.upperDir) {
        const info = await this.api.inspectContainer(c.dockerId).catch(() => undefined);
        c.upperDir = info?.GraphDriver?.Data?.UpperDir || undefined;
        if (!c.upperDir) continue;
      }
      c.layer = await diskUsage(c.upperDir).catch(() => c.layer);
    }
  }

  async podUsage(podId: string): Promise<ContainerUsage> {
    const sum = usageFromCounters({});
    for (const c of this.containers.values()) {
      if (c.spec.podId !== podId) continue;
      const u = await this.usage(c.spec.id);
      sum.cpuUsageCoreNs += u.cpuUsageCoreNs;
      sum.memoryWorkingSetBytes += u.memoryWorkingSetBytes;
      sum.memoryUsageBytes += u.memoryUsageBytes;
      sum.memoryRssBytes += u.memoryRssBytes;
      sum.pageFaults += u.pageFaults;
      sum.majorPageFaults += u.majorPageFaults;
      sum.pids += u.pids;
    }
    return sum;
  }

  private running(id: string): DockerContainer {
    const c = this.get(id);
    if (c.runtime.state !== 'running') throw new FailedPreconditionError(`container "${id}" is not running`);
    return c;
  }

  async execSync(id: string, cmd: string[], timeoutSeconds: number, signal: AbortSignal): Promise<ExecResult> {
    return execSync(this.api, this.running(id).dockerId, cmd, timeoutSeconds, signal);
  }

  async reopenLog(id: string): Promise<void> {
    const c = this.running(id);
    await c.follower?.reopen();
  }

  async exec(id: string, cmd: string[], opts: StreamOptions, signal: AbortSignal): Promise<StreamSession> {
    return execSession(this.api, this.running(id).dockerId, cmd, opts, signal);
  }

  async attach(id: string, opts: StreamOptions, signal: AbortSignal): Promise<StreamSession> {
    const c = this.running(id);
    return attachSession(this.api, c.dockerId, { ...opts, stdin: opts.stdin && c.spec.stdin }, signal);
  }

  async portForward(podId: string, port: number, signal: AbortSignal): Promise<Duplex> {
    const pod = this.pods.get(podId);
    if (!pod) throw new NotFoundError(`pod "${podId}" not found in the docker containerizer`);
    return portForward(pod.netns, port, signal);
  }

  /** Stops log followers and watches (ucri shutting down); containers keep running in dockerd. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweepTimer);
    await this.sweeping;
    for (const c of this.containers.values()) await c.follower?.stop();
    await this.client.close().catch(() => undefined);
  }
}

async function settled(p: Promise<void>): Promise<boolean> {
  const t = Symbol('pending');
  return (await Promise.race([p.then(() => true), Promise.resolve(t)])) !== t;
}
