/**
 * The Mesos containerizer (Mesos `MesosContainerizer`): provisioner + ordered isolators + launcher. Pods are
 * parent containers without a process (pod.ts), CRI containers are nested containers (containers.ts; their
 * state machine is drawn in records.ts), and everything is checkpointed so a restarted ucri recovers
 * (recover.ts). This file is the folder's public face: options, wiring, and the Containerizer interface.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import type {
  Condition,
  Conditions,
  ContainerRuntime,
  ContainerSpec,
  ContainerUsage,
  Containerizer,
  CreateContainerOptions,
  ExecResult,
  HandlerFeatures,
  ImageFsUsage,
  PodRuntime,
  StreamOptions,
  StreamSession,
  PodSpec,
  RecoveredContainer,
  RemoveContainerOptions,
  Resources,
  Termination,
} from '../../containerizer/index.js';
import { type MonitorKind, resolveRuntimeKind, type RuntimeKind } from '../../oci/index.js';
import { type CgroupDriver, nativeHelper } from '../../sys/index.js';
import {
  FailedPreconditionError,
  findExecutable,
  KeyedLock,
  NotFoundError,
  nowNs,
  UnavailableError,
} from '../../util/index.js';
import * as containers from './containers.js';
import type { CgroupNaming, Engine, SpecBuilder } from './engine.js';
import { getContainer, getPod } from './engine.js';
import type { Container, Pod } from './records.js';
import { recover } from './recover.js';
import { execSync } from './exec-sync.js';
import { checkpointContainer, inspectCheckpoint } from './checkpoint.js';
import { reopenLog } from './reopen-log.js';
import * as streams from './streams.js';
import { containerRuntimeOf } from './status.js';
import { update } from './update.js';
import { podUsage, usage } from './usage.js';
import type { Isolator, IsolatorCondition } from '../isolator.js';
import { containerCgroupPath, createIsolators, podCgroupPath } from '../isolators/index.js';
import { buildSpec } from '../launch-info.js';
import { type LauncherName, openLauncher } from '../launcher/index.js';
import { MesosPaths } from '../paths.js';
import { enforceDiskLimits, podDiskLimit } from './disk-limits.js';
import { updatePodResources } from './pod-resources.js';
import * as pods from './pod.js';
import { MesosProvisioner } from '../provisioner/index.js';
import type { ImageSource, Provisioner } from '../provisioner/types.js';

export type { SpecBuilder } from './engine.js';

export interface MesosOptions {
  /** OCI runtime name (`runc`, `crun`, `auto`: crun when installed, else runc) and optional explicit path. */
  ociRuntime: string;
  ociRuntimePath?: string;
  conmonPath?: string;
  /** Container monitor: ucri's own (default when built) or conmon. */
  monitor?: MonitorKind;
  /** Isolators in order (`--isolation`). */
  isolation: readonly string[];
  cniConfigDir: string;
  cniPluginDirs: readonly string[];
  /** `--work_dir`: records that survive a reboot (default /var/lib/ucri). */
  workDir?: string;
  /** `--runtime_dir`: runc state, exit files, namespace pins, bundles (default /run/ucri). */
  runtimeDir?: string;
  /** `--cgroups_root`: parent of pod cgroups without a kubelet cgroup parent (default `ucri`). */
  cgroupsRoot?: string;
  /** cgroup driver (resolved, not `auto`; default cgroupfs). */
  cgroupDriver?: CgroupDriver;
  /** `--launcher` (default auto: linux when namespaces are available). */
  launcher?: LauncherName;
  /** The image store the provisioner takes layers from (ImageStore). Needed unless `provisioner` is given. */
  images?: ImageSource;
  /** `--image_provisioner_backend` (default overlay). */
  provisionerBackend?: string;
  /** `--container_store_dir`: the writable layers (default `<workDir>/provisioner/containers`). */
  containerStoreDir?: string;
  /** How often the writable layers are measured in the background, in ms (default 15 s). */
  diskWatchIntervalMs?: number;
  /** Default writable-layer limit per container in bytes (`--container_disk_limit`); 0: none (default). */
  diskLimitBytes?: number;
  /** The node's pod CIDR (UpdateRuntimeConfig), read by network/cni at each ADD. */
  podCidr?: () => string;
  /** Default pids limit of containers (cgroups/pids); 0: none. */
  pidsLimit?: number;
  /** Tests and embedders: a ready provisioner instead of one built over `images`. */
  provisioner?: Provisioner;
  /** Tests and embedders: isolator instances instead of the `isolation` table. */
  isolators?: readonly Isolator[];
  /** Tests and embedders: the LaunchInfo → OCI spec merge (default launch-info.ts buildSpec). */
  buildSpec?: SpecBuilder;
  /** Grace between SIGTERM and SIGKILL for a pod's infra process (default 2000 ms). */
  infraStopGraceMs?: number;
}

const READY: Condition = { ready: true, reason: '', message: '' };

export class MesosContainerizer implements Containerizer {
  readonly handlers = ['mesos'] as const;
  readonly features: HandlerFeatures = { recursiveReadOnlyMounts: false, userNamespaces: false };
  private engineP: Promise<Engine> | undefined;
  private runtimeKindP: Promise<RuntimeKind> | undefined;
  /** Set once the engine is up; the synchronous getters answer from it. */
  private e: Engine | undefined;
  private isolators: readonly Isolator[] | undefined;
  private stopDiskWatch: (() => void) | undefined;

  constructor(private readonly opts: MesosOptions) {}

  async conditions(): Promise<Conditions> {
    const [runtime, isolatorRuntime, network] = await Promise.all([
      this.runtimeCondition(),
      this.isolatorCondition('runtime'),
      this.isolatorCondition('network'),
    ]);
    return { runtime: runtime.ready ? isolatorRuntime : runtime, network };
  }

  /**
   * The OCI runtime this containerizer runs (`auto` resolved: crun when installed, else runc), decided once
   * for the daemon's life: the engine opens with it and Status reports on that same binary.
   */
  private runtimeKind(): Promise<RuntimeKind> {
    this.runtimeKindP ??= resolveRuntimeKind(this.opts.ociRuntime, this.opts.ociRuntimePath);
    return this.runtimeKindP;
  }

  /** Ready when the launcher's programs (the OCI runtime and conmon) are installed. */
  private async runtimeCondition(): Promise<Condition> {
    const missing: string[] = [];
    const runtime = this.opts.ociRuntimePath ?? (await this.runtimeKind().catch(() => 'runc'));
    if (!(await findExecutable(runtime))) missing.push(`OCI runtime "${runtime}"`);
    // conmon is needed unless ucri's own monitor runs the containers (restores still need it, but only they).
    const conmonNeeded = this.opts.monitor !== 'ucri' || !nativeHelper('monitor');
    if (conmonNeeded && !(await findExecutable(this.opts.conmonPath ?? 'conmon')))
      missing.push(`"${this.opts.conmonPath ?? 'conmon'}"`);
    if (missing.length === 0) return READY;
    return { ready: false, reason: 'RuntimeBinaryMissing', message: `not installed: ${missing.join(', ')}` };
  }

  /**
   * The isolators' readiness reports of one kind, the first not-ready one winning (network/cni reports
   * NetworkReady from a scan of the CNI config dir; without network/cni the network is the host's: ready).
   */
  private async isolatorCondition(type: IsolatorCondition['type']): Promise<Condition> {
    const reports = await Promise.all(this.isolatorList().map((iso) => iso.condition?.()));
    const bad = reports.find((r) => r?.type === type && !r.ready);
    return bad ? { ready: bad.ready, reason: bad.reason, message: bad.message } : READY;
  }

  /**
   * The `--isolation` table's isolators (or the embedder's), built once. Building needs no launcher, so the
   * conditions can be answered before the engine opens; recursive read-only support is read at use time.
   */
  private isolatorList(): readonly Isolator[] {
    if (this.isolators) return this.isolators;
    const o = this.opts;
    const paths = this.paths();
    const features = this.features;
    this.isolators =
      o.isolators ??
      createIsolators(o.isolation, {
        cgroupDriver: o.cgroupDriver ?? 'cgroupfs',
        cgroupsRoot: o.cgroupsRoot ?? 'ucri',
        get recursiveReadOnlyMounts() {
          return features.recursiveReadOnlyMounts;
        },
        pidsLimit: o.pidsLimit,
        cni: {
          configDir: o.cniConfigDir,
          pluginDirs: o.cniPluginDirs,
          stateDir: path.join(paths.work, 'isolators', 'network', 'cni'),
          podCidr: o.podCidr,
        },
        imageVolumes: { images: o.images, stateDir: path.join(paths.work, 'isolators', 'volume', 'image') },
      });
    return this.isolators;
  }

  private paths(): MesosPaths {
    return new MesosPaths(this.opts.workDir ?? '/var/lib/ucri', this.opts.runtimeDir ?? '/run/ucri');
  }

  /** Opens the launcher and builds the isolators and provisioner, once. */
  private engine(): Promise<Engine> {
    this.engineP ??= this.open().catch((err: unknown) => {
      this.engineP = undefined; // a later call retries (e.g. once conmon is installed)
      throw err;
    });
    return this.engineP;
  }

  private async open(): Promise<Engine> {
    const o = this.opts;
    const paths = this.paths();
    const driver = o.cgroupDriver ?? 'cgroupfs';
    const cgroupsRoot = o.cgroupsRoot ?? 'ucri';
    const runtime = await this.runtimeKind();
    await refuseOtherRuntimesContainers(paths, runtime);
    const launcher = await openLauncher(o.launcher ?? 'auto', {
      runtime,
      runtimePath: o.ociRuntimePath,
      conmonPath: o.conmonPath,
      monitor: o.monitor,
      runtimeRoot: paths.runtimeRoot(runtime),
      runtimeBinDir: paths.runtimeBinDir,
      exitDir: paths.exitDir,
      socketDir: paths.socketDir,
      execDir: paths.execDir,
      systemdCgroup: driver === 'systemd',
    });
    const features = await launcher.runtimeFeatures().catch(() => undefined);
    const mountOptions = (features?.mountOptions ?? []) as unknown;
    this.features.recursiveReadOnlyMounts = Array.isArray(mountOptions) && mountOptions.includes('rro');
    const isolators = this.isolatorList();
    let provisioner = o.provisioner;
    if (!provisioner) {
      if (!o.images) throw new UnavailableError('the mesos containerizer has no image store configured');
      provisioner = new MesosProvisioner({
        workDir: path.dirname(paths.work),
        containerStoreDir: o.containerStoreDir,
        source: o.images,
        backend: o.provisionerBackend,
        // Two cycles at once find a spare each (kubelet starts a pod's containers one after the other).
        spares: 2,
      });
    }
    const cgroups: CgroupNaming = {
      pod: (spec) => podCgroupPath(spec, { cgroupDriver: driver, cgroupsRoot }),
      container: (pod, spec) => containerCgroupPath(pod.cgroup, spec.id, driver),
      ociPath: (rel) => (driver === 'systemd' ? systemdPath(rel) : `/${rel}`),
      ownedRoot: driver === 'cgroupfs' ? cgroupsRoot : '',
    };
    const e: Engine = {
      paths,
      launcher,
      provisioner,
      isolators,
      buildSpec: o.buildSpec ?? ((ctx, infos) => buildSpec(infos, { rootfs: ctx.rootfs, terminal: ctx.spec.tty })),
      cgroups,
      pods: new Map(),
      containers: new Map(),
      lock: new KeyedLock(),
      infraStopGraceMs: o.infraStopGraceMs ?? 2000,
      releasing: new Map(),
      releasingPods: new Map(),
    };
    this.stopDiskWatch = provisioner.watchUsage?.(o.diskWatchIntervalMs ?? 15_000, (figures) =>
      enforceDiskLimits(e, o.diskLimitBytes ?? 0, figures),
    );
    this.e = e;
    return e;
  }

  /**
   * Stops the exit watchers without touching any container (conmon keeps running): for daemon shutdown
   * and tests that simulate a crash. The object is unusable afterwards.
   */
  close(): void {
    this.stopDiskWatch?.();
    void this.e?.provisioner.close?.();
    for (const c of this.e?.containers.values() ?? []) c.watcher?.abort();
    for (const p of this.e?.pods.values() ?? []) p.infraWatcher?.abort();
  }

  /**
   * Background releases of removed containers are waited for, then close(), and the pins dir's self-bind goes
   * when no pod holds a pin in it; the runtime binary's read-only mount goes too (nothing is left mounted).
   */
  async shutdown(): Promise<void> {
    if (this.e) await pods.drainPodReleases(this.e);
    if (this.e) await containers.drainReleases(this.e);
    this.close();
    await this.e?.provisioner.close?.();
    if (this.e) await pods.releasePinRootIfUnused(this.e);
    await this.e?.launcher.close?.();
  }

  async waitPodLost(podId: string): Promise<string> {
    return getPod(await this.engine(), podId).lost;
  }

  async recover(known: { pods: PodSpec[]; containers: ContainerSpec[] }): Promise<RecoveredContainer[]> {
    return recover(await this.engine(), known);
  }

  async runPod(spec: PodSpec, signal: AbortSignal): Promise<PodRuntime> {
    podDiskLimit(spec.annotations); // a malformed limit is refused before anything is made
    const e = await this.engine();
    return e.lock.run(spec.id, async () => pods.podRuntime(await pods.runPod(e, spec, signal)));
  }

  async stopPod(podId: string, signal: AbortSignal): Promise<void> {
    const e = await this.engine();
    await e.lock.run(podId, async () => {
      const pod = e.pods.get(podId);
      if (pod) await pods.stopPod(e, pod, signal);
    });
  }

  async removePod(podId: string, signal: AbortSignal, opts?: { later?: boolean }): Promise<void> {
    const e = await this.engine();
    await e.lock.run(podId, async () => {
      const pod = e.pods.get(podId);
      if (pod) await pods.removePod(e, pod, signal, opts);
    });
    if (!opts?.later) await pods.finishPodRelease(e, podId);
  }

  podRuntime(podId: string): PodRuntime | undefined {
    const pod: Pod | undefined = this.e?.pods.get(podId);
    return pod ? pods.podRuntime(pod) : undefined;
  }

  async createContainer(
    spec: ContainerSpec,
    pod: PodSpec,
    signal: AbortSignal,
    opts: CreateContainerOptions = {},
  ): Promise<ContainerRuntime> {
    const e = await this.engine();
    if (spec.podId !== pod.id)
      throw new NotFoundError(`container "${spec.id}" names pod "${spec.podId}", not "${pod.id}"`);
    getPod(e, pod.id);
    return containerRuntimeOf(e, await containers.createContainer(e, spec, signal, opts));
  }

  async startContainer(id: string, signal: AbortSignal): Promise<ContainerRuntime> {
    const e = await this.engine();
    return containerRuntimeOf(e, await containers.startContainer(e, id, signal));
  }

  async stopContainer(id: string, timeoutSeconds: number, signal: AbortSignal): Promise<void> {
    await containers.stopContainer(await this.engine(), id, timeoutSeconds, signal);
  }

  async removeContainer(id: string, _signal?: AbortSignal, opts?: RemoveContainerOptions): Promise<void> {
    await containers.removeContainer(await this.engine(), id, opts);
  }

  containerRuntime(id: string): ContainerRuntime {
    if (!this.e) throw new NotFoundError(`container "${id}" not found`);
    return containerRuntimeOf(this.e, getContainer(this.e, id));
  }

  async wait(id: string): Promise<Termination> {
    const c: Container = getContainer(await this.engine(), id);
    return c.exited;
  }

  async update(id: string, resources: Resources, signal: AbortSignal): Promise<void> {
    await update(await this.engine(), id, resources, signal);
  }

  async usage(id: string): Promise<ContainerUsage> {
    return usage(await this.engine(), id);
  }

  async updatePod(podId: string, resources: Resources, signal: AbortSignal): Promise<void> {
    await updatePodResources(await this.engine(), podId, resources, signal);
  }

  /** The container store (writable layers) for ImageFsInfo's container filesystems. */
  async containerFsInfo(): Promise<ImageFsUsage | undefined> {
    const u = await (await this.engine()).provisioner.storeUsage?.();
    return u && { mountpoint: u.mountpoint, usedBytes: u.bytes, inodesUsed: u.inodes, timestampNs: nowNs() };
  }

  async podUsage(podId: string): Promise<ContainerUsage> {
    return podUsage(await this.engine(), podId);
  }

  async execSync(id: string, cmd: string[], timeoutSeconds: number, signal: AbortSignal): Promise<ExecResult> {
    return execSync(await this.engine(), id, cmd, timeoutSeconds, signal);
  }

  async checkpointContainer(
    id: string,
    opts: { location: string; leaveRunning: boolean },
    signal: AbortSignal,
  ): Promise<void> {
    await checkpointContainer(await this.engine(), id, opts, signal);
  }

  async inspectCheckpoint(archive: string, signal: AbortSignal): Promise<{ image: { id: string; ref: string } }> {
    return inspectCheckpoint(archive, signal);
  }

  async reopenLog(id: string): Promise<void> {
    await reopenLog(await this.engine(), id);
  }

  async exec(id: string, cmd: string[], opts: StreamOptions, signal: AbortSignal): Promise<StreamSession> {
    return streams.exec(await this.engine(), id, cmd, opts, signal);
  }

  async attach(id: string, opts: StreamOptions, signal: AbortSignal): Promise<StreamSession> {
    return streams.attach(await this.engine(), id, opts, signal);
  }

  async portForward(podId: string, port: number, signal: AbortSignal): Promise<Duplex> {
    return streams.portForward(await this.engine(), podId, port, signal);
  }
}

/** systemd driver: `a.slice/a-b.slice/ucri-<id>.scope` → `a-b.slice:ucri:<id>` (infra containers only). */
function systemdPath(rel: string): string {
  const parts = rel.split('/');
  const leaf = parts.pop() ?? '';
  const slice = parts.pop() ?? '-.slice';
  const name = leaf.replace(/^ucri-/, '').replace(/\.scope$/, '');
  return `${slice}:ucri:${name}`;
}

/**
 * Refuses to open with `kind` while the other runtime's state root still holds containers: they were made by
 * the other runtime (the configured or installed runtime changed across a restart), and this one could
 * neither recover, stop nor delete them.
 */
async function refuseOtherRuntimesContainers(paths: MesosPaths, kind: 'runc' | 'crun'): Promise<void> {
  const other = kind === 'runc' ? 'crun' : 'runc';
  const root = paths.runtimeRoot(other);
  const left = (await fs.readdir(root).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
  if (left.length > 0) {
    throw new FailedPreconditionError(
      `${root} holds ${left.length} container(s) of ${other}; start ucri with oci_runtime = "${other}" until they are removed`,
    );
  }
}
