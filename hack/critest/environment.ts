/**
 * The world critest runs against: a local registry holding the stand-in images, a `ucri serve` whose registry
 * mirrors send `registry.k8s.io` and `gcr.io` there, and a CNI bridge network of its own on a free subnet.
 * Everything lives under one temp root and is taken down by PID, name and path (never by process name):
 * the pods critest left (stopped and removed through the CRI, so CNI DEL undoes their host ports), the
 * daemon, its containers' monitors, mounts and cgroups root, the registry, the bridge and host-local's leases.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { installDefaultNetwork, pickFreeSubnet } from '../../pkg/mesos/isolators/network/index.js';
import { errorMessage } from '../../pkg/util/index.js';
import { startDaemon, type TestDaemon } from '../../test/support/daemon.js';
import { startDockerd, type TestDockerd } from '../../test/support/dockerd.js';
import { BlobStore } from '../images/blob-store.js';
import { ImageBuilder } from '../images/image.js';
import { RegistryClient } from '../images/push.js';
import { type RunningRegistry, startRegistry } from '../registry/index.js';
import { standInCatalogue } from './catalogue.js';
import { buildPrograms } from './programs.js';

const run = promisify(execFile);

/** CNI plugin directories searched on Debian and upstream installs. */
const CNI_PLUGIN_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];

/** A running environment. */
export interface CritestEnv {
  /** `unix://…` endpoint for critest's runtime and image flags. */
  endpoint: string;
  registry: RunningRegistry;
  daemon: TestDaemon;
  /** The private dockerd behind runtime handler `docker`, when asked for. */
  dockerd: TestDockerd | undefined;
  subnet: string;
  bridge: string;
  /** Takes everything down; safe to call more than once. */
  close(): Promise<void>;
}

/** Builds and pushes every stand-in to `registry`; prints one line per reference. */
async function pushStandIns(workDir: string, registry: RunningRegistry, log: (s: string) => void): Promise<void> {
  const programs = await buildPrograms(path.join(workDir, 'programs'));
  const store = new BlobStore(path.join(workDir, 'store'));
  await store.init();
  const builder = new ImageBuilder(store);
  const client = new RegistryClient(store, { registry: registry.host });
  for (const s of await standInCatalogue(programs)) {
    const built = await builder.build(s.spec);
    for (const tag of s.tags) {
      const pushed = await client.push(built, s.repository, tag, s.format);
      log(`pushed ${s.host}/${s.repository}:${tag} (${pushed.manifestDigest})`);
    }
  }
}

/** The ucri config: both registries the suite names are mirrored to the local one. */
export function mirrorConfig(registryUrl: string): string {
  const q = JSON.stringify;
  return ['registry.k8s.io', 'gcr.io']
    .map((h) => `[registry.mirrors.${q(h)}]\nendpoints = [${q(registryUrl)}]\n`)
    .join('');
}

export interface CritestEnvOptions {
  /**
   * Also start a private dockerd (own data root, exec root, pid file and socket; see test/support/dockerd.ts)
   * and serve runtime handler `docker` through it, for `critest -runtime-handler=docker`.
   */
  dockerd?: boolean;
}

/** Starts registry, pushes the stand-ins, writes the network and starts ucri. `logDir` keeps the logs. */
export async function startCritestEnv(
  workDir: string,
  logDir: string,
  log: (s: string) => void,
  opts: CritestEnvOptions = {},
): Promise<CritestEnv> {
  const tag = randomBytes(3).toString('hex');
  const bridge = `ucrict${tag}`;
  const ipamDir = path.join(workDir, 'cni-ipam');
  let registry: RunningRegistry | undefined;
  let daemon: TestDaemon | undefined;
  let dockerd: TestDockerd | undefined;
  let subnet = '';
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    if (daemon) await stopDaemon(daemon, log);
    // After ucri (which stopped and removed the docker pods critest left): stopped by PID, its dirs removed.
    await dockerd?.cleanup().catch((err: unknown) => log(`dockerd cleanup: ${errorMessage(err)}`));
    await registry?.stop().catch((err: unknown) => log(`registry stop: ${errorMessage(err)}`));
    await run('ip', ['link', 'del', bridge]).catch(() => undefined);
    await fs.rm(ipamDir, { recursive: true, force: true });
  };
  try {
    registry = await startRegistry();
    log(`registry ${registry.url} (pid ${registry.pid})`);
    await pushStandIns(path.join(workDir, 'images'), registry, log);
    // A random start spreads concurrent runs on one host over different /24s.
    const start = randomBytes(1)[0] ?? 0;
    subnet = await pickFreeSubnet(
      Array.from({ length: 64 }, (_, i) => `10.${236 + ((start + i) % 2)}.${(start * 7 + i * 13) % 256}.0/24`),
    );
    let flags: string[] = [];
    if (opts.dockerd) {
      dockerd = await startDockerd();
      await fs.writeFile(path.join(logDir, 'dockerd.pid'), `${dockerd.pid()}\n`);
      log(`dockerd pid ${dockerd.pid()} on ${dockerd.socket} (root ${dockerd.root})`);
      flags = ['--containerizers=mesos,docker', `--docker_socket=${dockerd.socket}`];
    }
    daemon = await startDaemon({ configToml: mirrorConfig(registry.url), flags });
    const daemonLog = createWriteStream(path.join(logDir, 'ucri.log'));
    daemonLog.write(daemon.output());
    daemon.proc.stdout?.pipe(daemonLog);
    daemon.proc.stderr?.pipe(daemonLog);
    await installDefaultNetwork(daemon.cniConfigDir, CNI_PLUGIN_DIRS, { bridge, subnet, ipamDataDir: ipamDir });
    log(`ucri pid ${daemon.proc.pid} on ${daemon.socket}; cni bridge ${bridge} ${subnet}; log ${logDir}/ucri.log`);
    return { endpoint: `unix://${daemon.socket}`, registry, daemon, dockerd, subnet, bridge, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Removes the pods critest left (CNI DEL included), then stops the daemon and clears its root. */
async function stopDaemon(d: TestDaemon, log: (s: string) => void): Promise<void> {
  if (d.proc.exitCode === null && d.proc.signalCode === null) {
    const c = d.client();
    try {
      const { items } = await c.runtime.listPodSandbox({ filter: undefined });
      for (const pod of items) {
        log(`removing pod critest left: ${pod.id} (${pod.metadata?.name ?? '?'})`);
        await c.runtime.stopPodSandbox({ podSandboxId: pod.id }).catch(() => undefined);
        await c.runtime.removePodSandbox({ podSandboxId: pod.id }).catch((err: unknown) => {
          log(`remove pod ${pod.id}: ${errorMessage(err)}`);
        });
      }
    } catch (err) {
      log(`listing pods left behind: ${errorMessage(err)}`);
    }
    await d.stop();
  }
  // The private self-bind of the pins dir outlives the daemon by design; cleanup() unmounts it with the rest.
  await d.cleanup();
}
