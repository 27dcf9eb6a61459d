/**
 * Shared set-up of the pod and container e2e tests: a local registry with the fixture images, a real
 * `ucri serve` with its own CNI bridge network, cgroups root and temp root, the busybox image pulled over
 * the socket, CRI request builders, and a leak check (mounts, cgroups, processes, IP leases) for the end.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  type ContainerConfig,
  type ContainerStatusResponse,
  type CriClient,
  CreateContainerRequest,
  type PodSandboxConfig,
  RunPodSandboxRequest,
} from '../support/cri-client.js';
import { startDaemon, type TestDaemon } from '../support/daemon.js';
import { fixtureImages } from '../support/images.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { randomFreeSubnet24 } from '../support/subnet.js';

const run = promisify(execFile);

export interface PodEnv {
  d: TestDaemon;
  c: CriClient;
  registry: RunningRegistry;
  /** The busybox fixture as pulled (`127.0.0.1:PORT/e2e-test-images/busybox:latest`). */
  image: string;
  imageId: string;
  cgroupsRoot: string;
  network: string;
  bridge: string;
  /** The pod subnet of this file's bridge network (a free /24 picked at random). */
  subnet: string;
  /**
   * Starts another daemon over the same root (restart tests), with `more` flags in place of the env's own of
   * the same names; the old one must be dead.
   */
  restart(more?: string[]): Promise<void>;
  /** Stops everything this env made; asserts that nothing was left behind first when `check` is set. */
  close(check: boolean): Promise<void>;
}

/**
 * Starts registry + daemon (with `extraFlags` for `ucri serve`), writes a bridge network for this file, pulls
 * busybox. `moreFlags` adds flags that depend on the registry (e.g. a pause image pushed there).
 */
export async function startPodEnv(
  extraFlags: string[] = [],
  moreFlags: (registry: RunningRegistry, images: Awaited<ReturnType<typeof fixtureImages>>) => string[] = () => [],
): Promise<PodEnv> {
  const registry = await startRegistry();
  const tag = randomBytes(3).toString('hex');
  const cgroupsRoot = `ucri-e2e-${tag}`;
  const network = `ucri-e2e-${tag}`;
  const bridge = `ucrie2e${tag}`.slice(0, 15);
  const flags = [`--cgroups_root=${cgroupsRoot}`, ...extraFlags];
  const subnet = await randomFreeSubnet24(234);
  let d: TestDaemon | undefined;
  const teardown = async () => {
    if (d) {
      await d.stop();
      // What the containerizer keeps for the life of the runtime dir (the private self-bind of the pins dir)
      // and the cgroups root it made go with this test's root.
      for (const m of mountsUnder(d.root).reverse()) await run('umount', ['-l', m]).catch(() => undefined);
      await d.cleanup();
    }
    for (const ctl of await fs.readdir('/sys/fs/cgroup').catch(() => [])) {
      await fs.rmdir(path.join('/sys/fs/cgroup', ctl, cgroupsRoot)).catch(() => undefined);
    }
    await registry.stop();
    await run('ip', ['link', 'del', bridge]).catch(() => undefined);
    await fs.rm(path.join('/var/lib/cni/networks', network), { recursive: true, force: true });
  };
  try {
    const images = await fixtureImages(registry);
    flags.push(...moreFlags(registry, images));
    d = await startDaemon({ flags });
    const conflist = {
      cniVersion: '1.0.0',
      name: network,
      plugins: [
        {
          type: 'bridge',
          bridge,
          isGateway: true,
          ipMasq: false,
          ipam: { type: 'host-local', subnet, routes: [{ dst: '0.0.0.0/0' }] },
        },
      ],
    };
    await fs.writeFile(path.join(d.cniConfigDir, '10-e2e.conflist'), JSON.stringify(conflist));
    const c = d.client();
    const image = images.busybox.ref;
    const pulled = await c.image.pullImage({
      image: { image, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
      auth: undefined,
      sandboxConfig: undefined,
    });
    const env: PodEnv = {
      d,
      c,
      registry,
      image,
      imageId: pulled.imageRef,
      cgroupsRoot,
      network,
      bridge,
      subnet,
      async restart(more: string[] = []) {
        const name = (f: string) => f.split('=')[0];
        const replaced = new Set(more.map(name));
        d = await startDaemon({ root: env.d.root, flags: [...flags.filter((f) => !replaced.has(name(f))), ...more] });
        env.d = d;
        env.c = d.client();
      },
      async close(check) {
        try {
          if (check) {
            // Checked after a clean shutdown: a daemon stopped with no pods leaves nothing mounted either.
            await env.d.stop();
            await assertNothingLeft(env);
          }
        } finally {
          await teardown();
        }
      },
    };
    return env;
  } catch (err) {
    await teardown();
    throw err;
  }
}

/** Mount points under `root`, in mountinfo order. */
function mountsUnder(root: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === root || m.startsWith(`${root}/`));
}

/**
 * The end of every pod test file: removes every pod through the socket (restarting the daemon first if a
 * test left it dead, since only ucri can remove what it made), then tears down, asserting that nothing was
 * left behind when the tests passed.
 */
export async function finishPodEnv(env: PodEnv | undefined, check: boolean): Promise<void> {
  if (!env) return;
  try {
    if (env.d.proc.exitCode !== null || env.d.proc.signalCode !== null) await env.restart();
    const { items } = await env.c.runtime.listPodSandbox({ filter: undefined });
    for (const p of items) {
      await env.c.runtime.stopPodSandbox({ podSandboxId: p.id });
      await env.c.runtime.removePodSandbox({ podSandboxId: p.id });
    }
  } finally {
    await env.close(check);
  }
}

let seq = 0;

/** A pod config with a unique name (kubelet style metadata, log directory under the test root). */
export function podConfig(env: PodEnv, name = `pod${++seq}`): PodSandboxConfig {
  return RunPodSandboxRequest.fromPartial({
    config: {
      metadata: { name, namespace: 'e2e', uid: `uid-${name}-${randomBytes(4).toString('hex')}`, attempt: 0 },
      hostname: name,
      logDirectory: path.join(env.d.root, 'pods', name),
      labels: { 'e2e-pod': name },
      // As kubelet sends it for a pod without shareProcessNamespace: each container its own PID namespace.
      linux: { securityContext: { namespaceOptions: { network: 0, pid: 1, ipc: 0, targetId: '' } } },
    },
  }).config!;
}

/** A container config running `sh -c script` from busybox. */
export function containerConfig(env: PodEnv, name: string, script: string, over: Partial<ContainerConfig> = {}) {
  return CreateContainerRequest.fromPartial({
    config: {
      metadata: { name, attempt: 0 },
      image: { image: env.image },
      command: ['sh', '-c', script],
      logPath: `${name}.log`,
      labels: { 'e2e-container': name },
      linux: { securityContext: { namespaceOptions: { network: 0, pid: 1, ipc: 0, targetId: '' } } },
      ...over,
    },
  }).config!;
}

/** RunPodSandbox + CreateContainer + StartContainer; returns both ids. */
export async function podWithContainer(
  env: PodEnv,
  script: string,
  name = `pod${++seq}`,
  over: Partial<ContainerConfig> = {},
) {
  const config = podConfig(env, name);
  const { podSandboxId } = await env.c.runtime.runPodSandbox({ config, runtimeHandler: '' });
  const { containerId } = await env.c.runtime.createContainer({
    podSandboxId,
    config: containerConfig(env, 'main', script, over),
    sandboxConfig: config,
  });
  await env.c.runtime.startContainer({ containerId });
  return { podSandboxId, containerId, config };
}

export async function status(env: PodEnv, id: string): Promise<ContainerStatusResponse> {
  return env.c.runtime.containerStatus({ containerId: id, verbose: true });
}

/**
 * Polls `check` until it holds, failing with `what` after `timeoutMs`: for what the daemon releases in the
 * background after RemoveContainer / RemovePodSandbox answered (rootfs, image leases, pins).
 */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < until, what);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Waits for a container to reach `state` by following GetContainerEvents (no polling, no sleeps): the
 * stream is opened first, then the status is checked, so an event between the two cannot be missed.
 */
export async function waitForState(env: PodEnv, id: string, state: number, timeoutMs = 60_000): Promise<void> {
  const call = env.c.rawRuntime.getContainerEvents({}, { deadline: Date.now() + timeoutMs });
  try {
    await new Promise<void>((resolve, reject) => {
      call.on('data', (e: { containerId: string; containersStatuses: Array<{ id: string; state: number }> }) => {
        if (e.containersStatuses.some((s) => s.id === id && s.state === state)) resolve();
      });
      call.on('error', reject);
      call.on('end', () => reject(new Error('event stream ended')));
      status(env, id).then((s) => {
        if (s.status?.state === state) resolve();
      }, reject);
    });
  } finally {
    call.cancel();
  }
}

/**
 * Nothing of this env may remain: no mount under the root (not even the pins dir's self-bind once the daemon
 * has stopped), no cgroup under its root, no process, no runtime container, no IP lease.
 */
/**
 * Nothing of any pod or container is left: mounts, runtime containers, cgroups, processes, IP leases. A running
 * daemon releases removed pods and containers in the background (pkg/mesos removeContainer/removePod `later`),
 * so while it runs the check is repeated until it passes or a minute has gone by.
 */
export async function assertNothingLeft(env: PodEnv): Promise<void> {
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      return await checkNothingLeft(env);
    } catch (err) {
      const running = env.d.proc.exitCode === null && env.d.proc.signalCode === null;
      if (!running || Date.now() >= until) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

async function checkNothingLeft(env: PodEnv): Promise<void> {
  const running = env.d.proc.exitCode === null && env.d.proc.signalCode === null;
  // While the daemon runs, the Mesos pins dir keeps its private self-bind (the next pod needs it) and crun's
  // binary its read-only mount (pkg/oci/ro-binary.ts); a clean stop releases both. The Docker containerizer's
  // pin root keeps its self-bind for the life of the runtime dir.
  const mesosPins = path.join(env.d.runtimeDir, 'mesos', 'pins');
  const runtimeBin = path.join(env.d.runtimeDir, 'mesos', 'bin');
  const dockerPins = path.join(env.d.runtimeDir, 'docker', 'ns');
  const held = (m: string): boolean => m === mesosPins || path.dirname(m) === runtimeBin;
  const mounts = mountsUnder(env.d.root).filter((m) => !(running && held(m)) && m !== dockerPins);
  assert.deepEqual(mounts, [], 'mounts left under the test root');
  for (const kind of ['runc', 'crun']) {
    const root = path.join(env.d.runtimeDir, 'mesos', kind);
    const left = existsSync(root) ? (await fs.readdir(root)).filter((n) => !n.startsWith('.')) : [];
    assert.deepEqual(left, [], `runtime containers left in the ${kind} root`);
  }
  const cgroups: string[] = [];
  for (const ctl of await fs.readdir('/sys/fs/cgroup')) {
    const dir = path.join('/sys/fs/cgroup', ctl, env.cgroupsRoot);
    if (!existsSync(dir)) continue;
    const children = (await fs.readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory());
    if (children.length > 0) cgroups.push(`${dir}: ${children.map((e) => e.name).join(', ')}`);
  }
  assert.deepEqual(cgroups, [], 'pod cgroups left behind');
  const procs: string[] = [];
  for (const pid of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(pid) || (running && Number(pid) === env.d.proc.pid)) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (cmd.includes(env.d.root)) procs.push(`${pid}: ${cmd}`);
  }
  assert.deepEqual(procs, [], 'processes left behind');
  const leases = path.join('/var/lib/cni/networks', env.network);
  const ips = existsSync(leases) ? (await fs.readdir(leases)).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n)) : [];
  assert.deepEqual(ips, [], 'IP leases left behind');
}
