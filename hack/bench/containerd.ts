/**
 * containerd under bench: Debian's `containerd` package (installed here with apt-get when missing; never by
 * `make test`), started as its own instance with its own root, state, sockets and config.toml (CRI plugin,
 * runc, the bench's CNI config and plugins, the pause-like sandbox image and a mirror onto the local
 * registry), stopped by PID at the end and its mounts and dirs removed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, unmount, unmountAllUnder } from '../../pkg/sys/index.js';
import { criClient } from '../../test/support/cri-client.js';
import { socketAccepts } from '../../test/support/daemon.js';
import { CNI_PLUGINS_DIR } from './env.js';
import type { ProcInfo } from './memory.js';
import type { BenchRuntime } from './runtime.js';

const CONTAINERD = '/usr/bin/containerd';
const NETNS_DIR = '/var/run/netns';

/** Installs Debian's containerd when it is missing (the bench's own dependency, not the project's). */
export async function ensureContainerd(progress: (msg: string) => void): Promise<string> {
  if (!existsSync(CONTAINERD)) {
    progress('installing Debian containerd (apt-get)');
    const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive' };
    await run('apt-get', ['install', '-y', '--no-install-recommends', 'containerd'], { env, timeoutMs: 600_000 });
  }
  const v = await run(CONTAINERD, ['--version']);
  return v.stdout.trim();
}

/** The config.toml of the bench instance (containerd 1.6, config version 2). */
export function containerdConfig(o: {
  root: string;
  cniConfigDir: string;
  sandboxImage: string;
  registryHost: string;
}): string {
  const cri = '[plugins."io.containerd.grpc.v1.cri"]';
  return `version = 2
root = "${o.root}/root"
state = "${o.root}/state"
oom_score = 0

[grpc]
  address = "${o.root}/containerd.sock"

[ttrpc]
  address = "${o.root}/containerd.sock.ttrpc"

[debug]
  level = "warn"

[plugins."io.containerd.internal.v1.opt"]
  path = "${o.root}/opt"

${cri}
  sandbox_image = "${o.sandboxImage}"
  # root here has no CAP_SYS_RESOURCE: never ask for an oom_score_adj below the daemon's own
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

${cri.slice(0, -1)}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

${cri.slice(0, -1)}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

${cri.slice(0, -1)}.containerd.runtimes.runc.options]
  BinaryName = "/usr/sbin/runc"
  SystemdCgroup = false

${cri.slice(0, -1)}.cni]
  bin_dir = "${CNI_PLUGINS_DIR}"
  conf_dir = "${o.cniConfigDir}"
  max_conf_num = 1

${cri.slice(0, -1)}.registry.mirrors."${o.registryHost}"]
  endpoint = ["http://${o.registryHost}"]
`;
}

async function waitForSocket(socket: string, proc: ChildProcess, log: string): Promise<void> {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      const text = await fs.readFile(log, 'utf8').catch(() => '');
      throw new Error(`containerd exited early (${proc.exitCode ?? proc.signalCode}):\n${text.slice(-4000)}`);
    }
    if (await socketAccepts(socket)) return;
    await sleep(50);
  }
  throw new Error(`containerd did not serve ${socket} in 60 s`);
}

/** Starts the bench's containerd under `root` (created). */
export async function startContainerd(o: {
  root: string;
  cniConfigDir: string;
  sandboxImage: string;
  registryHost: string;
}): Promise<BenchRuntime> {
  await fs.mkdir(o.root, { recursive: true });
  // containerd puts pods without a cgroup parent under k8s.io in every hierarchy; remove what it adds.
  const cgroupDirs = (await fs.readdir('/sys/fs/cgroup').catch(() => [] as string[]))
    .map((c) => path.join('/sys/fs/cgroup', c, 'k8s.io'))
    .filter((d) => !existsSync(d));
  // Its CRI plugin pins pod network namespaces as /var/run/netns/cni-*: those made during the run go too.
  const netnsBefore = new Set(await fs.readdir(NETNS_DIR).catch(() => [] as string[]));
  const config = path.join(o.root, 'config.toml');
  await fs.writeFile(config, containerdConfig(o));
  const log = path.join(o.root, 'containerd.log');
  const out = await fs.open(log, 'a');
  const proc = spawn(CONTAINERD, ['--config', config], {
    stdio: ['ignore', out.fd, out.fd],
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  await out.close();
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const socket = path.join(o.root, 'containerd.sock');
  const address = `${socket}\0`;
  const isMonitor = (p: ProcInfo): boolean => p.cmdline.includes('containerd-shim') && p.cmdline.includes(address);
  const close = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
    await killShims(isMonitor);
    await unmountAllUnder(o.root, { lazy: true }).catch(() => undefined);
    for (const d of cgroupDirs) await fs.rmdir(d).catch(() => undefined);
    for (const n of await fs.readdir(NETNS_DIR).catch(() => [] as string[])) {
      if (!n.startsWith('cni-') || netnsBefore.has(n)) continue;
      await unmount(path.join(NETNS_DIR, n), { lazy: true }).catch(() => undefined);
      await fs.rm(path.join(NETNS_DIR, n), { force: true }).catch(() => undefined);
    }
    await fs.rm(o.root, { recursive: true, force: true }).catch(() => undefined);
  };
  try {
    await waitForSocket(socket, proc, log);
  } catch (err) {
    await close();
    throw err;
  }
  const client = criClient(socket);
  return {
    name: 'containerd',
    client,
    pid: proc.pid!,
    isMonitor,
    async close() {
      client.close();
      await close();
    },
  };
}

/** SIGKILLs the shims of this instance (by PID) and the processes they started. */
async function killShims(isMonitor: (p: ProcInfo) => boolean): Promise<void> {
  const { processes } = await import('./memory.js');
  const all = await processes();
  const shims = new Set(all.filter(isMonitor).map((p) => p.pid));
  for (const p of all) {
    if (shims.has(p.pid) || shims.has(p.ppid)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}
