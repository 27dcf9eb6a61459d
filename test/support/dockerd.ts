/**
 * Test helper: a real dockerd (Debian docker.io) started by the test run itself, never the host's. Everything
 * it owns lives under one temp dir: data root, exec root (with the containerd it manages), pid file and socket;
 * its containers' cgroups live under a test-specific cgroup parent. Stopped by PID; cleanup kills only what
 * names that dir (containerd shims survive a dockerd stop under --live-restore), unmounts and removes it all.
 *
 *   const d = await startDockerd();
 *   d.socket                     // '/tmp/ucri-dockerd-XXXX/docker.sock'
 *   await d.stop(); await d.start();   // a dockerd restart over the same state
 *   await d.start({ liveRestore: false })  // … with --live-restore changed from then on
 *   after(() => d.cleanup());
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fs, mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { destroyCgroup, unmountAllUnder } from '../../pkg/sys/index.js';
import { exitsWithin, STOP_LIMIT_MS } from './daemon.js';

export interface DockerdOptions {
  /** Keep containers running across a dockerd restart (`--live-restore`). */
  liveRestore?: boolean;
}

export interface TestDockerd {
  root: string;
  socket: string;
  /** The cgroup parent of its containers (relative, cgroupfs driver). */
  cgroupParent: string;
  /** The running dockerd's pid (0 when stopped). */
  pid(): number;
  /** Its output so far, for failure messages. */
  output(): string;
  /** Starts dockerd (again) over the same dirs; resolves when /_ping answers. `opts` changes the flags. */
  start(opts?: DockerdOptions): Promise<void>;
  /** SIGTERM by PID and wait for exit; after STOP_LIMIT_MS it is killed and this rejects with its output. */
  stop(): Promise<void>;
  /** SIGKILL by PID (a crashed daemon). */
  kill9(): Promise<void>;
  /** Stops it and removes everything it made: processes under its dirs, mounts, cgroups, the temp dir. */
  cleanup(): Promise<void>;
}

/** Whether something answers HTTP on the unix socket. */
async function pings(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket);
    c.setTimeout(2000, () => {
      c.destroy();
      resolve(false);
    });
    let buf = '';
    c.once('connect', () => c.write('GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n'));
    c.on('data', (d) => {
      buf += d.toString();
    });
    c.once('end', () => resolve(buf.startsWith('HTTP/1.1 200')));
    c.once('error', () => resolve(false));
  });
}

/** SIGKILLs processes whose command line names `dir` (shims and containerd of this dockerd), by PID. */
async function killProcessesMentioning(dir: string): Promise<void> {
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const cmdline = await fs.readFile(`/proc/${name}/cmdline`, 'latin1').catch(() => '');
    if (cmdline.includes(`${dir}/`)) {
      try {
        process.kill(Number(name), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Starts a private dockerd and waits until it answers. */
export async function startDockerd(opts: DockerdOptions = {}): Promise<TestDockerd> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ucri-dockerd-'));
  const socket = path.join(root, 'docker.sock');
  const cgroupParent = `ucri-dockerd-${path.basename(root)}`;
  const configFile = path.join(root, 'daemon.json');
  // An empty config file: never read the host's /etc/docker/daemon.json.
  await fs.writeFile(configFile, '{}\n');
  const args = [
    `--data-root=${path.join(root, 'data')}`,
    `--exec-root=${path.join(root, 'exec')}`,
    `--pidfile=${path.join(root, 'dockerd.pid')}`,
    `--config-file=${configFile}`,
    `-H=unix://${socket}`,
    '--iptables=false',
    '--ip6tables=false',
    '--ip-masq=false',
    '--bridge=none',
    '--userland-proxy=false',
    `--cgroup-parent=/${cgroupParent}`,
    '--exec-opt=native.cgroupdriver=cgroupfs',
    '--storage-driver=overlay2',
    '--log-level=warn',
  ];
  let liveRestore = opts.liveRestore === true;

  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let buf = '';
  const running = (): boolean => proc !== undefined && proc.exitCode === null && proc.signalCode === null;

  const start = async (next: DockerdOptions = {}): Promise<void> => {
    if (running()) return;
    if (next.liveRestore !== undefined) liveRestore = next.liveRestore;
    const p = spawn('dockerd', liveRestore ? [...args, '--live-restore'] : args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      // dockerd looks up containerd, runc and its shims in PATH.
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: root },
    });
    proc = p;
    exited = new Promise((resolve) => p.once('exit', () => resolve()));
    const collect = (d: Buffer): void => {
      buf += d.toString();
      if (buf.length > 1 << 20) buf = buf.slice(-(1 << 19));
    };
    p.stdout?.on('data', collect);
    p.stderr?.on('data', collect);
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      if (!running()) throw new Error(`dockerd exited early (${p.exitCode ?? p.signalCode}):\n${buf}`);
      if (await pings(socket)) return;
      await sleep(100);
    }
    p.kill('SIGKILL');
    await exited;
    throw new Error(`dockerd did not answer on ${socket} in 60 s:\n${buf}`);
  };
  const stop = async (sig: NodeJS.Signals): Promise<void> => {
    if (running()) proc?.kill(sig);
    if (sig === 'SIGKILL' || (await exitsWithin(exited, STOP_LIMIT_MS))) {
      await exited;
      return;
    }
    proc?.kill('SIGKILL');
    await exited;
    throw new Error(`dockerd did not exit within ${STOP_LIMIT_MS / 1000} s of ${sig} (killed):\n${buf.slice(-8000)}`);
  };

  const d: TestDockerd = {
    root,
    socket,
    cgroupParent,
    pid: () => (running() ? (proc?.pid ?? 0) : 0),
    output: () => buf,
    start,
    stop: () => stop('SIGTERM'),
    kill9: () => stop('SIGKILL'),
    async cleanup() {
      await stop('SIGTERM').catch(() => undefined); // killed by then: go on removing what it left
      await killProcessesMentioning(root);
      await destroyCgroup(cgroupParent).catch(() => undefined);
      await unmountAllUnder(root, { lazy: true }).catch(() => undefined);
      await fs.rm(root, { recursive: true, force: true }).catch(() => undefined);
    },
  };
  try {
    await start();
  } catch (err) {
    await d.cleanup();
    throw err;
  }
  return d;
}
