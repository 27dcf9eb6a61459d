/**
 * An in-memory Containerizer for pkg/cri unit tests: pods and containers are entries in maps, a "process"
 * is a promise the test ends with `exit(id, code)`. It follows the contract's idempotence and unknown-id
 * rules, records every call, and can be told to fail the next call of a method.
 */
import type { Duplex } from 'node:stream';
import type {
  CreateContainerOptions,
  Conditions,
  ContainerRuntime,
  ContainerSpec,
  ContainerUsage,
  Containerizer,
  ExecResult,
  HandlerFeatures,
  ImageManager,
  ImageRecord,
  PodRuntime,
  PodSpec,
  RecoveredContainer,
  RemoveContainerOptions,
  Resources,
  StreamSession,
  Termination,
} from '../../../pkg/containerizer/index.js';
import { DeadlineExceededError, NotFoundError, UnimplementedError } from '../../../pkg/util/index.js';
import { emptyImageConfig } from '../../../pkg/containerizer/index.js';

interface FakeContainer {
  spec: ContainerSpec;
  runtime: ContainerRuntime;
  resources: Resources;
  exited: Promise<Termination>;
  end: (t: Termination) => void;
}

export class FakeContainerizer implements Containerizer {
  readonly handlers: readonly string[];
  readonly features: HandlerFeatures = { recursiveReadOnlyMounts: false, userNamespaces: false };
  readonly pods = new Map<string, { spec: PodSpec; stopped: boolean }>();
  readonly containers = new Map<string, FakeContainer>();
  readonly calls: string[] = [];
  /** The options of every removeContainer call, in order. */
  readonly removeOptions: RemoveContainerOptions[] = [];
  /** Method name → error thrown by its next call. */
  readonly failNext = new Map<string, Error>();
  /** Method name → promise the next call waits for before doing anything (to hold a call in flight). */
  readonly holdNext = new Map<string, Promise<void>>();
  /** What recover() answers per container id (default: what this fake knows). */
  recovered: RecoveredContainer[] | undefined;
  recoverCalledWith: { pods: PodSpec[]; containers: ContainerSpec[] } | undefined;
  private nextPid = 1000;

  constructor(name = 'mesos') {
    this.handlers = [name];
  }

  private async enter(method: string, id: string): Promise<void> {
    this.calls.push(`${method} ${id}`);
    const hold = this.holdNext.get(method);
    if (hold) {
      this.holdNext.delete(method);
      await hold;
    }
    const err = this.failNext.get(method);
    if (err) {
      this.failNext.delete(method);
      throw err;
    }
  }

  private must(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new NotFoundError(`container "${id}" not found`);
    return c;
  }

  async conditions(): Promise<Conditions> {
    const ok = { ready: true, reason: '', message: '' };
    return { runtime: ok, network: ok };
  }

  async recover(known: { pods: PodSpec[]; containers: ContainerSpec[] }): Promise<RecoveredContainer[]> {
    this.recoverCalledWith = known;
    if (this.recovered) return this.recovered;
    return known.containers.map((s) => {
      const c = this.containers.get(s.id);
      if (!c) return { id: s.id, state: 'lost' as const };
      const st = c.runtime.state;
      if (st === 'running' || st === 'created') return { id: s.id, state: st, runtime: c.runtime };
      return { id: s.id, state: 'exited' as const, runtime: c.runtime };
    });
  }

  async runPod(spec: PodSpec): Promise<PodRuntime> {
    await this.enter('runPod', spec.id);
    this.pods.set(spec.id, { spec, stopped: false });
    return this.podRuntime(spec.id)!;
  }

  async stopPod(podId: string): Promise<void> {
    await this.enter('stopPod', podId);
    const p = this.pods.get(podId);
    if (!p) return;
    p.stopped = true;
    for (const c of this.containers.values()) {
      if (c.spec.podId === podId && c.runtime.state === 'running') this.exit(c.spec.id, 137, 'Error');
    }
  }

  async removePod(podId: string): Promise<void> {
    await this.enter('removePod', podId);
    this.pods.delete(podId);
  }

  podRuntime(podId: string): PodRuntime | undefined {
    const p = this.pods.get(podId);
    if (!p) return undefined;
    return { netnsPath: `/run/netns/${podId}`, ips: p.stopped ? [] : ['10.0.0.2', 'fd00::2'], cgroup: '', info: {} };
  }

  /** Called with the id once createContainer has awaited the caller's `intent` (CreateContainerOptions). */
  onIntent: ((id: string) => void | Promise<void>) | undefined;

  async createContainer(
    spec: ContainerSpec,
    pod: PodSpec,
    _signal?: AbortSignal,
    opts: CreateContainerOptions = {},
  ): Promise<ContainerRuntime> {
    await this.enter('createContainer', spec.id);
    // As a containerizer with side effects must: nothing outside its records before the caller's intent.
    await opts.intent;
    await this.onIntent?.(spec.id);
    if (!this.pods.has(pod.id)) throw new NotFoundError(`pod "${pod.id}" not found`);
    let end!: (t: Termination) => void;
    const exited = new Promise<Termination>((resolve) => {
      end = resolve;
    });
    const runtime: ContainerRuntime = {
      state: 'created',
      mesosState: 'PREPARING',
      pid: 0,
      startedAt: 0n,
      termination: undefined,
      user: { uid: 0, gid: 0, supplementalGroups: [] },
      info: { fake: true },
    };
    this.containers.set(spec.id, { spec, runtime, resources: spec.resources, exited, end });
    return runtime;
  }

  async startContainer(id: string): Promise<ContainerRuntime> {
    await this.enter('startContainer', id);
    const c = this.must(id);
    c.runtime = { ...c.runtime, state: 'running', mesosState: 'RUNNING', pid: this.nextPid++, startedAt: 1000n };
    return c.runtime;
  }

  /** Ends a running container's process as if it exited with `code`. */
  exit(id: string, code: number, reason = code === 0 ? 'Completed' : 'Error'): void {
    const c = this.must(id);
    if (c.runtime.state !== 'running') return;
    const termination = { exitCode: code, reason, message: '', finishedAt: 2000n };
    c.runtime = { ...c.runtime, state: 'exited', mesosState: 'DESTROYED', pid: 0, termination };
    c.end(termination);
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    await this.enter('stopContainer', id);
    const c = this.containers.get(id);
    if (c?.runtime.state === 'running') this.exit(id, timeoutSeconds === 0 ? 137 : 143);
  }

  async removeContainer(id: string, _signal?: AbortSignal, opts: RemoveContainerOptions = {}): Promise<void> {
    this.removeOptions.push(opts);
    await this.enter('removeContainer', id);
    const c = this.containers.get(id);
    if (!c) return;
    if (c.runtime.state === 'running') this.exit(id, 137);
    this.containers.delete(id);
  }

  containerRuntime(id: string): ContainerRuntime {
    return this.must(id).runtime;
  }

  wait(id: string): Promise<Termination> {
    return this.must(id).exited;
  }

  async update(id: string, resources: Resources): Promise<void> {
    await this.enter('update', id);
    this.must(id).resources = resources;
  }

  async usage(id: string): Promise<ContainerUsage> {
    this.must(id);
    return {
      timestampNs: 5n,
      cpuUsageCoreNs: 123n,
      memoryWorkingSetBytes: 4096,
      memoryUsageBytes: 8192,
      memoryRssBytes: 2048,
      pageFaults: 3,
      majorPageFaults: 1,
      writableLayerBytes: 10,
      writableLayerInodes: 2,
      writableLayerMountpoint: '/var/lib/ucri/upper',
      pids: 1,
    };
  }

  async podUsage(podId: string): Promise<ContainerUsage> {
    if (!this.pods.has(podId)) throw new NotFoundError(`pod "${podId}" not found`);
    return { ...(await this.usageOfNothing()), cpuUsageCoreNs: 999n, pids: 2 };
  }

  private async usageOfNothing(): Promise<ContainerUsage> {
    return {
      timestampNs: 5n,
      cpuUsageCoreNs: 0n,
      memoryWorkingSetBytes: 0,
      memoryUsageBytes: 0,
      memoryRssBytes: 0,
      pageFaults: 0,
      majorPageFaults: 0,
      writableLayerBytes: 0,
      writableLayerInodes: 0,
      writableLayerMountpoint: '',
      pids: 0,
    };
  }

  async execSync(id: string, cmd: string[], timeoutSeconds: number): Promise<ExecResult> {
    await this.enter('execSync', id);
    this.must(id);
    if (cmd[0] === 'sleep' && timeoutSeconds > 0) throw new DeadlineExceededError('command timed out');
    return { exitCode: cmd[0] === 'false' ? 1 : 0, stdout: Buffer.from(cmd.join(' ')), stderr: Buffer.alloc(0) };
  }

  async reopenLog(id: string): Promise<void> {
    await this.enter('reopenLog', id);
    this.must(id);
  }

  async exec(id: string): Promise<StreamSession> {
    await this.enter('exec', id);
    this.must(id);
    throw new UnimplementedError('the fake containerizer has no processes to exec in');
  }

  async attach(id: string): Promise<StreamSession> {
    await this.enter('attach', id);
    this.must(id);
    throw new UnimplementedError('the fake containerizer has no processes to attach to');
  }

  async portForward(podId: string): Promise<Duplex> {
    await this.enter('portForward', podId);
    throw new UnimplementedError('the fake containerizer has no network namespaces');
  }
}

/** An image store holding the given images (looked up by any repo tag, or id). */
export class FakeImages implements ImageManager {
  constructor(readonly images: ImageRecord[]) {}

  async pull(): Promise<ImageRecord> {
    throw new NotFoundError('no pulls in the fake');
  }
  async get(refOrId: string): Promise<ImageRecord | undefined> {
    return this.images.find((i) => i.id === refOrId || i.repoTags.includes(refOrId));
  }
  async list(): Promise<ImageRecord[]> {
    return this.images;
  }
  async remove(): Promise<void> {}
  async fsInfo() {
    return { mountpoint: '/', usedBytes: 0, inodesUsed: 0, timestampNs: 0n };
  }
}

export const BUSYBOX: ImageRecord = {
  id: `sha256:${'a'.repeat(64)}`,
  repoTags: ['docker.io/library/busybox:latest'],
  repoDigests: [`docker.io/library/busybox@sha256:${'b'.repeat(64)}`],
  size: 1000,
  config: { ...emptyImageConfig(), cmd: ['sh'] },
  kind: 'docker',
  pinned: false,
  layers: [],
  manifestDigest: `sha256:${'b'.repeat(64)}`,
  pulledAt: 0,
};
