/**
 * Starts a real Distribution registry (`docker-registry serve <config>`) on 127.0.0.1 for a test run:
 *
 *   <tmp>/ucri-registry-XXXX/
 *     config.yml     written by config.ts
 *     htpasswd       only with auth
 *     storage/       filesystem driver root
 *
 * `stop()` ends only the PID this module started and removes the temp dir. A process-exit hook (also run on
 * SIGINT/SIGTERM/SIGHUP, see exit-cleanup.ts) does the same for registries a test forgot to stop, so none
 * outlives its test process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import {
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  UnavailableError,
} from '../../pkg/util/index.js';
import { onProcessExit } from './exit-cleanup.js';
import { htpasswdFile, INSTANCE_HEADER, type RegistryUser, registryConfig } from './config.js';

/** Debian's registry binary. */
export const REGISTRY_BINARY = '/usr/bin/docker-registry';

/** Options of `startRegistry`. */
export interface RegistryOptions {
  /** Turns on htpasswd basic auth with these users (one or several). */
  auth?: RegistryUser | RegistryUser[];
  /** A fixed port; by default a free one is picked (and re-picked if another process takes it first). */
  port?: number;
  binary?: string;
  /** Parent of the temp dir (default os.tmpdir()). */
  tmpRoot?: string;
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  /** How long to wait for `/v2/` to answer (default 30 s). */
  readyTimeoutMs?: number;
  signal?: AbortSignal;
}

/** A running registry. */
export interface RunningRegistry {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT`, the prefix of image references. */
  host: string;
  port: number;
  pid: number;
  /** The temp dir holding config, htpasswd and storage. */
  dir: string;
  storageDir: string;
  /** The first configured user, when auth is on. */
  auth?: RegistryUser;
  /** The last few KiB the registry wrote to stdout/stderr. */
  logs(): string;
  /** Stops the registry (SIGTERM, then SIGKILL after 10 s) and removes its dir; idempotent. */
  stop(): Promise<void>;
}

const live = new Map<number, { child: ChildProcess; dir: string }>();

function killLeftover(pid: number): void {
  const r = live.get(pid);
  if (!r) return;
  live.delete(pid);
  if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
  rmSync(r.dir, { recursive: true, force: true });
}

/** Starts a registry and resolves once `/v2/` answers (200, or 401 with auth). */
export async function startRegistry(opts: RegistryOptions = {}): Promise<RunningRegistry> {
  const users = opts.auth === undefined ? [] : Array.isArray(opts.auth) ? opts.auth : [opts.auth];
  if (opts.auth !== undefined && users.length === 0) throw new InvalidArgumentError('auth needs at least one user');
  const binary = opts.binary ?? REGISTRY_BINARY;
  try {
    await fs.access(binary, fs.constants.X_OK);
  } catch (err) {
    throw new FailedPreconditionError(
      `registry binary "${binary}" missing: install the Debian package "docker-registry"`,
      {
        cause: err,
      },
    );
  }
  const dir = await fs.mkdtemp(path.join(opts.tmpRoot ?? os.tmpdir(), 'ucri-registry-'));
  try {
    const storageDir = path.join(dir, 'storage');
    await fs.mkdir(storageDir, { mode: 0o700 });
    const htpasswdPath = users.length > 0 ? path.join(dir, 'htpasswd') : undefined;
    if (htpasswdPath) await fs.writeFile(htpasswdPath, htpasswdFile(users), { mode: 0o600 });
    // A picked port can be taken by someone else before the registry binds it; then pick again.
    for (let attempt = 1; ; attempt++) {
      const port = opts.port ?? (await freePort());
      const instanceId = randomBytes(8).toString('hex');
      const configPath = path.join(dir, 'config.yml');
      const config = registryConfig({
        port,
        storageDir,
        htpasswdPath,
        logLevel: opts.logLevel,
        httpSecret: randomBytes(16).toString('hex'),
        instanceId,
      });
      await fs.writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
      const started = await launch(binary, configPath, port, instanceId, dir, opts);
      if (started.ok) return { ...started.registry, storageDir, ...(users[0] ? { auth: users[0] } : {}) };
      if (!/address already in use/i.test(started.logs) || opts.port !== undefined || attempt >= 5) {
        throw new UnavailableError(`registry exited before it was ready: ${started.logs.trim().slice(-1000)}`);
      }
    }
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
}

type Launch = { ok: true; registry: Omit<RunningRegistry, 'storageDir' | 'auth'> } | { ok: false; logs: string };

async function launch(
  binary: string,
  configPath: string,
  port: number,
  instanceId: string,
  dir: string,
  opts: RegistryOptions,
): Promise<Launch> {
  // A clean environment: REGISTRY_* variables of the caller would silently override the config file.
  const child = spawn(binary, ['serve', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
  });
  let logs = '';
  const keep = (d: Buffer): void => {
    logs = (logs + d.toString('utf8')).slice(-8192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (err) => {
      keep(Buffer.from(`spawn failed: ${err.message}\n`));
      resolve();
    });
  });
  const pid = child.pid;
  if (pid === undefined) {
    await exited;
    return { ok: false, logs };
  }
  // A registry a test forgot to stop must not keep the test process alive; the exit hook then kills it.
  child.unref();
  for (const s of [child.stdout, child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
  live.set(pid, { child, dir });
  onProcessExit(() => killLeftover(pid));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killTimer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killTimer);
      }
      live.delete(pid);
      await fs.rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };
  const url = `http://127.0.0.1:${port}`;
  const ready = await waitReady(url, instanceId, exited, opts.readyTimeoutMs ?? 30_000, opts.signal);
  if (ready !== 'ready') {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    live.delete(pid);
    if (ready === 'exited') return { ok: false, logs };
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw new DeadlineExceededError(`registry on port ${port} not ready: ${logs.trim().slice(-1000)}`);
  }
  return { ok: true, registry: { url, host: `127.0.0.1:${port}`, port, pid, dir, logs: () => logs, stop } };
}

/**
 * Polls `/v2/` until this instance answers, the process exits, or the deadline passes. Polling is the only
 * readiness signal the registry offers (it logs nothing at level error); each failed try is a refused connect.
 * The answer must carry our instance id: another process on the port (a race on a picked port) does not count.
 */
async function waitReady(
  url: string,
  instanceId: string,
  exited: Promise<void>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<'ready' | 'exited' | 'timeout'> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !signal?.aborted) {
    if (gone) return 'exited';
    try {
      const res = await request(`${url}/v2/`, { method: 'GET', signal: signal ?? null });
      await res.body.dump();
      const ours = res.headers[INSTANCE_HEADER.toLowerCase()] === instanceId;
      if (ours && (res.statusCode === 200 || res.statusCode === 401)) return 'ready';
    } catch {
      // not listening yet
    }
    await Promise.race([sleep(50), exited]);
  }
  return gone ? 'exited' : 'timeout';
}

/** A port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
