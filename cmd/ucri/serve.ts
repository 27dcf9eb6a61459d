/**
 * `ucri serve`: wires the configuration into the containerizers and the CRI server, takes the instance
 * locks, recovers, and serves until SIGINT/SIGTERM.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ComposingContainerizer, type Containerizer } from '../../pkg/containerizer/index.js';
import {
  ContainerEvents,
  ContainerStore,
  type CriDeps,
  CriServer,
  loadDaemonMetrics,
  recoverRuntime,
  RuntimeConfigStore,
  SandboxStore,
} from '../../pkg/cri/index.js';
import { configuredCredentials, ImageStore, installDefaultNetwork, MesosContainerizer } from '../../pkg/mesos/index.js';
import { detectCgroupDriver, heapReductionAvailable, reduceHeap, trimMalloc } from '../../pkg/sys/index.js';
import {
  backgroundUnlinksSettled,
  acquireInstanceLock,
  armCrashPoints,
  configureLogging,
  type InstanceLock,
  KeyedLock,
  logger,
} from '../../pkg/util/index.js';
import type { Config } from './config.js';
import { IdleCollector } from './idle-gc.js';
import { startStreaming } from './streaming.js';
import type { StreamingServer } from '../../pkg/cri/streaming/index.js';

/** ucri's version, read from package.json next to the build. */
export function ucriVersion(): string {
  const here = path.dirname(new URL(import.meta.url).pathname);
  for (const rel of ['../../../package.json', '../../package.json']) {
    const p = path.resolve(here, rel);
    if (existsSync(p)) return (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version;
  }
  return '0.0.0';
}

/** The configured cgroup driver, or the host's (systemd when it runs as init, else cgroupfs). */
async function cgroupDriver(config: Config): Promise<'systemd' | 'cgroupfs'> {
  return config.cgroup_driver === 'auto' ? detectCgroupDriver() : config.cgroup_driver;
}

/** The config as `crictl info` shows it: credentials are never echoed. */
function redacted(config: Config): Record<string, unknown> {
  const auths = Object.fromEntries(Object.keys(config.registry.auths).map((h) => [h, '<redacted>']));
  return { ...config, registry: { ...config.registry, auths } };
}

export interface Daemon {
  stop(): Promise<void>;
}

/** Starts the daemon; resolves once the socket is served. */
export async function startDaemon(config: Config): Promise<Daemon> {
  configureLogging({ level: config.log_level, trace: config.trace });
  const log = logger('daemon');
  const locks: InstanceLock[] = [];
  let streaming: StreamingServer | undefined;
  try {
    locks.push(await acquireInstanceLock('socket', path.resolve(config.socket)));
    locks.push(await acquireInstanceLock('work_dir', path.resolve(config.work_dir)));
    locks.push(await acquireInstanceLock('runtime_dir', path.resolve(config.runtime_dir)));
    // Recovery removes the writable layers that its records do not name: one store per instance.
    if (config.container_store_dir !== undefined) {
      locks.push(await acquireInstanceLock('container_store_dir', path.resolve(config.container_store_dir)));
    }
    // Recovery destroys the cgroups under this root that its records do not name: another instance using
    // the same root would lose its pods to that sweep, so the root is locked like the dirs.
    locks.push(await acquireInstanceLock('cgroups_root', config.cgroups_root.replace(/^\/+|\/+$/g, '')));
    await mkdir(config.work_dir, { recursive: true, mode: 0o711 });
    await mkdir(config.runtime_dir, { recursive: true, mode: 0o711 });
    if (config.install_default_network && config.isolation.includes('network/cni')) {
      await mkdir(config.network_cni_config_dir, { recursive: true, mode: 0o755 });
      await installDefaultNetwork(config.network_cni_config_dir, config.network_cni_plugins_dir.split(':'));
    }

    const credentials = await configuredCredentials(config.docker_config, config.registry.auths);
    const images = await ImageStore.open({
      dir: config.docker_store_dir ?? path.join(config.work_dir, 'store', 'docker'),
      dockerRegistry: config.docker_registry,
      mirrors: config.registry.mirrors,
      insecure: config.registry.insecure,
      credentials,
      providers: config.image_providers,
      appcPrefix: config.appc_simple_discovery_uri_prefix,
      pinned: [config.pause_image],
      progressTimeoutMs: config.image_pull_progress_timeout,
    });

    const containerizers: Containerizer[] = [];
    const closers: Array<() => Promise<void>> = [];
    // Mesos, when configured, is always first: it serves the default runtime handler "" (Mesos itself
    // sorted the names too, whatever the flag order).
    const order = [...config.containerizers].sort((a, b) => (a === 'mesos' ? -1 : b === 'mesos' ? 1 : 0));
    for (const name of order) {
      if (name === 'mesos') {
        containerizers.push(
          new MesosContainerizer({
            ociRuntime: config.oci_runtime,
            ociRuntimePath: config.oci_runtime_path,
            conmonPath: config.conmon_path,
            monitor: config.container_monitor,
            isolation: config.isolation,
            cniConfigDir: config.network_cni_config_dir,
            cniPluginDirs: config.network_cni_plugins_dir.split(':'),
            images,
            workDir: config.work_dir,
            runtimeDir: config.runtime_dir,
            cgroupsRoot: config.cgroups_root,
            cgroupDriver: await cgroupDriver(config),
            launcher: config.launcher,
            provisionerBackend: config.image_provisioner_backend,
            containerStoreDir: config.container_store_dir,
            diskWatchIntervalMs: config.container_disk_watch_interval,
            diskLimitBytes: config.container_disk_limit,
            podCidr: () => runtimeConfig.get().podCidr,
          }),
        );
      } else if (name === 'docker') {
        // Loaded only when configured: the docker handler brings its own HTTP client (undici).
        const { DockerContainerizer, pullSourceFrom } = await import('../../pkg/docker/index.js');
        const docker = new DockerContainerizer({
          socket: config.docker_socket,
          pauseImage: config.pause_image,
          cniConfigDir: config.network_cni_config_dir,
          cniPluginDirs: config.network_cni_plugins_dir.split(':'),
          workDir: config.work_dir,
          runtimeDir: config.runtime_dir,
          podCidr: () => runtimeConfig.get().podCidr,
          pullSource: pullSourceFrom(config.registry.mirrors, credentials),
        });
        containerizers.push(docker);
        closers.push(() => docker.close());
      } else {
        throw new Error(`containerizer "${name}" is not available in this build of ucri`);
      }
    }
    streaming = await startStreaming(config);
    const runtimeConfig = new RuntimeConfigStore(path.join(config.work_dir, 'runtime-config.json'));
    await runtimeConfig.load();
    const deps: CriDeps = {
      images,
      containerizer: new ComposingContainerizer(containerizers),
      info: { version: ucriVersion(), cgroupDriver: await cgroupDriver(config), config: redacted(config) },
      runtimeConfig,
      sandboxes: new SandboxStore(config.work_dir),
      containers: new ContainerStore(config.work_dir),
      events: new ContainerEvents(),
      locks: new KeyedLock(),
      streaming,
    };
    const started = streaming;
    // Records are loaded and reconciled with the containerizers before the socket appears, so no client
    // (kubelet, or a test waiting for the socket) ever meets a half-recovered runtime.
    await recoverRuntime(deps);
    armCrashPoints();
    const metrics =
      config.metrics_address !== ''
        ? new (await loadDaemonMetrics())({ sandboxes: deps.sandboxes, containers: deps.containers })
        : undefined;
    // V8's low-memory collection where the node binary offers it: what V8's memory reducer gives back some 8 s
    // after a collection, at once (docs/performance.md, "Idle memory, phase 14"); else node's gc(), twice.
    const idle = heapReductionAvailable()
      ? new IdleCollector({ gc: () => void reduceHeap(), passes: 1, trim: trimMalloc })
      : new IdleCollector({ gc: globalThis.gc, passes: 2, trim: trimMalloc });
    const server = new CriServer(deps, {
      observe: (rpc, code, s) => {
        idle.activity();
        metrics?.observeRpc(rpc, code, s);
      },
    });
    server.setReady();
    await server.listen(config.socket);
    if (metrics) await metrics.listen(config.metrics_address);
    log.info({ version: ucriVersion(), socket: config.socket }, 'ucri is ready');
    return {
      async stop() {
        idle.stop();
        await server.close();
        await started.close();
        await metrics?.close();
        for (const c of containerizers) await c.shutdown?.();
        for (const close of closers) await close();
        // The old files of replaced and removed records, unlinked in the background (pkg/util/checkpoint.ts).
        await backgroundUnlinksSettled();
        for (const l of locks.reverse()) await l.release();
      },
    };
  } catch (err) {
    await streaming?.close();
    for (const l of locks.reverse()) await l.release();
    throw err;
  }
}
