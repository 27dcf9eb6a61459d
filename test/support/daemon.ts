/**
 * Runs a real `ucri serve` for a test: its own socket, work dir and runtime dir under a temp dir, so tests
 * never touch /run/ucri or /var/lib/ucri. Stops only the process it started, by PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { SERVE_ENV, SERVE_NODE_FLAGS } from '../../cmd/ucri/node-flags.js';
import { destroyCgroup, unmountAllUnder } from '../../pkg/sys/index.js';
import { type CriClient, criClient } from './cri-client.js';

/** SIGKILLs processes whose command line names `dir` (conmon monitors of a test root), by PID. */
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

/** The program as it ships: the bundle dist/bundle/ucri/main.js (hack/bundle.ts), from dist/test/support. */
export const UCRI_MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bundle/ucri/main.js');

export interface DaemonOptions {
  /** Reuse these dirs (restart tests); default: fresh under a new temp dir. */
  root?: string;
  /** Extra flags for `ucri serve`. */
  flags?: string[];
  /** TOML text written to <root>/config.toml and passed with --config. */
  configToml?: string;
  env?: NodeJS.ProcessEnv;
  /** Flags for node itself, before the script (benchmarks: `--cpu-prof`); added to SERVE_NODE_FLAGS. */
  nodeArgs?: string[];
  /** Run this `ucri` program (an installed launcher) instead of node with this build's main.js. */
  program?: string;
}

export interface TestDaemon {
  root: string;
  socket: string;
  workDir: string;
  runtimeDir: string;
  cniConfigDir: string;
  proc: ChildProcess;
  /** Output of the daemon so far (stderr + stdout), for assertions and failure messages. */
  output(): string;
  client(): CriClient;
  /** SIGTERM and wait for exit; after STOP_LIMIT_MS it is killed and this rejects with its output. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit (crash tests). */
  kill9(): Promise<void>;
  /** Removes the temp root (after stop). */
  cleanup(): Promise<void>;
}

/** How long stop() waits for a daemon to exit after SIGTERM before it kills it and fails. */
export const STOP_LIMIT_MS = 60_000;

/** Whether `exited` settles within `ms` (the timer does not hold the process). */
export async function exitsWithin(exited: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([exited.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** True when a unix socket exists at `socket` and accepts a connection. */
export async function socketAccepts(socket: string): Promise<boolean> {
  if (!existsSync(socket)) return false;
  return new Promise<boolean>((resolve) => {
    const c = net.connect(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

async function waitForSocket(socket: string, proc: ChildProcess, out: () => string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`ucri exited early (${proc.exitCode ?? proc.signalCode}):\n${out()}`);
    }
    if (await socketAccepts(socket)) return;
    await sleep(25);
  }
  throw new Error(`ucri did not serve ${socket} in ${timeoutMs} ms:\n${out()}`);
}

/** Starts `ucri serve` and waits until its socket accepts connections. */
export async function startDaemon(opts: DaemonOptions = {}): Promise<TestDaemon> {
  const root = opts.root ?? mkdtempSync(path.join(os.tmpdir(), 'ucri-e2e-'));
  const socket = path.join(root, 'ucri.sock');
  const workDir = path.join(root, 'work');
  const runtimeDir = path.join(root, 'run');
  const cniConfigDir = path.join(root, 'cni');
  await fs.mkdir(cniConfigDir, { recursive: true });
  // Every test daemon gets its own cgroups root, so one daemon's orphan sweep never touches another's.
  const cgroupsRoot = `ucri-test-${path.basename(root)}`;
  const args = [
    UCRI_MAIN,
    'serve',
    `--socket=${socket}`,
    `--work_dir=${workDir}`,
    `--runtime_dir=${runtimeDir}`,
    `--network_cni_config_dir=${cniConfigDir}`,
    `--cgroups_root=${cgroupsRoot}`,
  ];
  if (opts.configToml !== undefined) {
    const file = path.join(root, 'config.toml');
    await fs.writeFile(file, opts.configToml);
    args.push(`--config=${file}`);
  } else {
    // Never read the host's /etc/ucri/config.toml in tests.
    const file = path.join(root, 'empty.toml');
    await fs.writeFile(file, '');
    args.push(`--config=${file}`);
  }
  // A flag given in opts.flags replaces the default of the same name.
  const flagName = (f: string): string => f.replace(/^--/, '').split('=')[0]!.replaceAll('-', '_');
  const overridden = new Set((opts.flags ?? []).map(flagName));
  const merged = args.filter((a, i) => i < 2 || !overridden.has(flagName(a)));
  args.splice(0, args.length, ...merged, ...(opts.flags ?? []));
  const [program, argv] = opts.program
    ? [opts.program, args.slice(1)]
    : [process.execPath, [...SERVE_NODE_FLAGS, ...(opts.nodeArgs ?? []), ...args]];
  const proc = spawn(program, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...SERVE_ENV, ...process.env, UCRI_LOG_LEVEL: 'info', ...opts.env },
  });
  let buf = '';
  const collect = (d: Buffer): void => {
    buf += d.toString();
    if (buf.length > 1 << 20) buf = buf.slice(-(1 << 19));
  };
  proc.stdout?.on('data', collect);
  proc.stderr?.on('data', collect);
  const output = (): string => buf;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  try {
    await waitForSocket(socket, proc, output);
  } catch (err) {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
    // A root this call made is removed again; one the caller passed in stays theirs.
    if (opts.root === undefined) {
      await unmountAllUnder(root, { lazy: true }).catch(() => undefined);
      await fs.rm(root, { recursive: true, force: true });
    }
    throw err;
  }
  const clients: CriClient[] = [];
  return {
    root,
    socket,
    workDir,
    runtimeDir,
    cniConfigDir,
    proc,
    output,
    client() {
      const c = criClient(socket);
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients.splice(0)) c.close();
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      // Bounded: a shutdown that waits on something (a call that never ends) fails the test by name
      // instead of holding it for as long as that takes.
      if (!(await exitsWithin(exited, STOP_LIMIT_MS))) {
        proc.kill('SIGKILL');
        await exited;
        throw new Error(
          `ucri did not exit within ${STOP_LIMIT_MS / 1000} s of SIGTERM (killed):\n${output().slice(-8000)}`,
        );
      }
      return proc.exitCode;
    },
    async kill9() {
      for (const c of clients.splice(0)) c.close();
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    async cleanup() {
      // Whatever a failed test left: its containers (in this daemon's own cgroups root), their conmon
      // monitors, and the mounts under the root (the pin root stays mounted across daemon restarts by design).
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
      await destroyCgroup(cgroupsRoot).catch(() => undefined);
      await killProcessesMentioning(root);
      await unmountAllUnder(root, { lazy: true }).catch(() => undefined);
      await fs.rm(root, { recursive: true, force: true });
    },
  };
}
