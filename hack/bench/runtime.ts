/**
 * Runtime benchmark: median and p90 of RunPodSandbox, CreateContainer, StartContainer, ExecSync and
 * stop+remove over 20 pods, 20 pods started at once, and ucri's memory idle and with 20 pods (plus the conmon
 * monitors, the only per-container processes ucri leaves). Calls go straight over the socket with ucri's own
 * gRPC client, so no CLI start-up is included (crictl adds about 25 ms to each of containerd's figures below).
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { DEFAULT_BRIDGE } from '../../pkg/mesos/isolators/network/index.js';
import { run } from '../../pkg/sys/index.js';
import { ContainerConfig, type CriClient, PodSandboxConfig, PullImageRequest } from '../../test/support/cri-client.js';
import { startDaemon } from '../../test/support/daemon.js';
import { fixtureImages } from '../../test/support/images.js';
import { startRegistry } from '../../test/support/registry.js';
import type { Benchmark } from './benchmark.js';
import { MiB, quantile, rssBytes, table, timed } from './stats.js';

const RUNS = 20;
/** host-local's state for the default network (its standard location). */
const IPAM_DIR = '/var/lib/cni/networks/ucri';

/** containerd 1.6 + runc with crictl, medians measured on this machine kind (from the project brief). */
const CONTAINERD_MS: Record<string, number> = {
  RunPodSandbox: 102,
  CreateContainer: 34,
  StartContainer: 78,
  ExecSync: 58,
  'stop+remove pod': 181,
  '20 pods at once': 1250,
};

function podConfig(i: number, tag: string, logRoot: string): PodSandboxConfig {
  return PodSandboxConfig.fromPartial({
    metadata: { name: `bench-${tag}-${i}`, namespace: 'bench', uid: `bench-${tag}-${i}`, attempt: 0 },
    hostname: `bench-${i}`,
    logDirectory: `${logRoot}/${tag}-${i}`,
    // kubelet's default for a pod without shareProcessNamespace: each container has its own PID namespace.
    linux: { securityContext: { namespaceOptions: { pid: 1 /* CONTAINER */ } } },
  });
}

function containerConfig(image: string): ContainerConfig {
  return ContainerConfig.fromPartial({
    metadata: { name: 'sleeper', attempt: 0 },
    image: { image },
    command: ['sleep', '3600'],
    logPath: 'sleeper.log',
    linux: { securityContext: { namespaceOptions: { pid: 1 } } },
  });
}

/** The CNI firewall plugin makes these chains on its first ADD and never removes them. */
async function firewallChainsExist(): Promise<boolean> {
  const r = await run('iptables', ['-S', 'CNI-FORWARD'], { allowFailure: true });
  return r.code === 0;
}

async function removeFirewallChains(): Promise<void> {
  const jump = ['FORWARD', '-m', 'comment', '--comment', 'CNI firewall plugin rules', '-j', 'CNI-FORWARD'];
  await run('iptables', ['-D', ...jump], { allowFailure: true });
  for (const chain of ['CNI-FORWARD', 'CNI-ADMIN']) {
    await run('iptables', ['-F', chain], { allowFailure: true });
    await run('iptables', ['-X', chain], { allowFailure: true });
  }
}

async function conmonRss(root: string): Promise<{ count: number; bytes: number }> {
  let count = 0;
  let bytes = 0;
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'latin1').catch(() => '');
    if (cmd.startsWith('conmon\0') || cmd.includes('/conmon\0')) {
      if (!cmd.includes(root)) continue;
      count++;
      bytes += await rssBytes(Number(name));
    }
  }
  return { count, bytes };
}

async function startPod(c: CriClient, i: number, tag: string, image: string, logRoot: string) {
  const cfg = podConfig(i, tag, logRoot);
  const run = await timed(() => c.runtime.runPodSandbox({ config: cfg, runtimeHandler: '' }));
  const podId = run.value.podSandboxId;
  const create = await timed(() =>
    c.runtime.createContainer({ podSandboxId: podId, config: containerConfig(image), sandboxConfig: cfg }),
  );
  const id = create.value.containerId;
  const start = await timed(() => c.runtime.startContainer({ containerId: id }));
  return { podId, id, runMs: run.ms, createMs: create.ms, startMs: start.ms };
}

async function removePod(c: CriClient, podId: string, id: string): Promise<number> {
  const t = await timed(async () => {
    await c.runtime.stopContainer({ containerId: id, timeout: 0n });
    await c.runtime.removeContainer({ containerId: id });
    await c.runtime.stopPodSandbox({ podSandboxId: podId });
    await c.runtime.removePodSandbox({ podSandboxId: podId });
  });
  return t.ms;
}

/** The runtime benchmark of `make bench`. */
export const runtimeBenchmark: Benchmark = {
  name: 'runtime',
  description: `pod and container latencies over ${RUNS} runs, ${RUNS} pods at once, memory with ${RUNS} pods`,
  run: (progress) => runtimeBench(progress),
};

/** Runs the runtime benchmark and returns its result lines. */
export async function runtimeBench(progress: (msg: string) => void = () => undefined): Promise<string[]> {
  // The default network's bridge and host-local dir are host state: remove them again if this run made them.
  const hadBridge = existsSync(`/sys/class/net/${DEFAULT_BRIDGE}`);
  const hadIpam = existsSync(IPAM_DIR);
  const hadFirewall = await firewallChainsExist();
  const registry = await startRegistry();
  const daemon = await startDaemon({ flags: ['--install-default-network', '--log_level=warn'] });
  try {
    progress('building and pushing the busybox fixture');
    const images = await fixtureImages(registry);
    const image = images.busybox.ref;
    const c = daemon.client();
    // Pod logs live under the daemon's temp root, which its cleanup removes.
    const logRoot = `${daemon.root}/logs`;
    await c.image.pullImage(PullImageRequest.fromPartial({ image: { image } }));
    const pid = daemon.proc.pid!;
    // Warm-up: first-time work (cgroup roots, bridge creation) is not what a steady node pays per pod.
    const warm = await startPod(c, 0, 'warm', image, logRoot);
    await removePod(c, warm.podId, warm.id);
    const idleRss = await rssBytes(pid);

    const samples: Record<string, number[]> = {
      RunPodSandbox: [],
      CreateContainer: [],
      StartContainer: [],
      ExecSync: [],
      'stop+remove pod': [],
    };
    progress(`${RUNS} pods one after another`);
    for (let i = 0; i < RUNS; i++) {
      const p = await startPod(c, i, 'seq', image, logRoot);
      samples.RunPodSandbox!.push(p.runMs);
      samples.CreateContainer!.push(p.createMs);
      samples.StartContainer!.push(p.startMs);
      const ex = await timed(() => c.runtime.execSync({ containerId: p.id, cmd: ['true'], timeout: 10n }));
      samples.ExecSync!.push(ex.ms);
      samples['stop+remove pod']!.push(await removePod(c, p.podId, p.id));
    }

    progress(`${RUNS} pods at once`);
    const parallel = await timed(() =>
      Promise.all(Array.from({ length: RUNS }, (_, i) => startPod(c, i, 'par', image, logRoot))),
    );
    const busyRss = await rssBytes(pid);
    const monitors = await conmonRss(daemon.root);
    const teardown = await timed(() => Promise.all(parallel.value.map((p) => removePod(c, p.podId, p.id))));

    const rows: string[][] = [['operation', 'median ms', 'p90 ms', 'containerd median ms (incl. crictl)']];
    for (const [name, values] of Object.entries(samples)) {
      rows.push([
        name,
        quantile(values, 0.5).toFixed(1),
        quantile(values, 0.9).toFixed(1),
        String(CONTAINERD_MS[name] ?? ''),
      ]);
    }
    rows.push(['20 pods at once', parallel.ms.toFixed(0), '', String(CONTAINERD_MS['20 pods at once'])]);
    rows.push(['20 pods removed at once', teardown.ms.toFixed(0), '', '']);
    return [
      `(${RUNS} runs, busybox pod with one container, pid namespace per container; direct gRPC, no CLI start-up)`,
      ...table(rows).split('\n'),
      `memory: ucri RSS idle ${(idleRss / MiB).toFixed(1)} MiB, with ${RUNS} pods ${(busyRss / MiB).toFixed(1)} MiB;` +
        ` ${monitors.count} conmon monitors ${(monitors.bytes / MiB).toFixed(1)} MiB in all` +
        ` (containerd: 41 MiB + 257 MiB of shims with 20 pods)`,
    ];
  } finally {
    await daemon.stop();
    await daemon.cleanup();
    await registry.stop();
    if (!hadBridge) await run('ip', ['link', 'del', DEFAULT_BRIDGE], { allowFailure: true });
    if (!hadIpam) await rm(IPAM_DIR, { recursive: true, force: true });
    if (!hadFirewall) await removeFirewallChains();
  }
}
