/**
 * The base of the linux and posix launchers: every container is an OCI runtime container (runc by default)
 * under its own conmon. `create` = conmon + `runc create` (the init is created in its namespaces and cgroup,
 * then blocked); `start` = `runc start` (the init execs the payload). conmon outlives ucri and writes the exit
 * file, so `waitExit` works the same whether ucri launched the container or recovered it after a restart.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ExecResult } from '../../containerizer/index.js';
import {
  Conmon,
  type ExecStream,
  execStream,
  execSync,
  execSyncRelay,
  type LinuxResources,
  type MonitorKind,
  OciRuntime,
  type Process,
  type RuntimeKind,
  type Spec,
  SeccompBpfCache,
} from '../../oci/index.js';
import { isAlive, markTopDir, nativeHelper, readStartTime } from '../../sys/index.js';
import {
  FailedPreconditionError,
  findExecutable,
  isKind,
  logger,
  mkdirOnce,
  NotFoundError,
  settleAll,
  writeJsonReplace,
} from '../../util/index.js';
import type { Launched, LaunchRequest, Launcher, RuntimeFeatures } from './types.js';

const log = logger('mesos/launcher');

export interface OciLauncherOptions {
  /** OCI runtime kind and optional explicit binary. */
  runtime: RuntimeKind;
  runtimePath?: string;
  conmonPath?: string;
  /** The container monitor (default ucri's own when built, see Conmon.open). */
  monitor?: MonitorKind;
  /** The runtime's `--root` (one per ucri instance). */
  runtimeRoot: string;
  /** Where crun's binary is bind-mounted read-only (RuntimeOptions.readOnlyBinaryDir); none: run as found. */
  runtimeBinDir?: string;
  exitDir: string;
  socketDir: string;
  /** Scratch directory for ExecSync. */
  execDir: string;
  systemdCgroup?: boolean;
}

/** Shared by the linux and posix launchers: they differ only in the spec they hand the runtime. */
export class OciLauncher implements Launcher {
  /** crun's compiled seccomp filters, reused across creates (pkg/oci/seccomp-bpf-cache.ts); none for runc. */
  private readonly seccompFilters: SeccompBpfCache | undefined;

  protected constructor(
    readonly name: 'linux' | 'posix',
    readonly runtime: OciRuntime,
    readonly conmon: Conmon,
    private readonly execDir: string,
  ) {
    this.seccompFilters = runtime.kind === 'crun' ? new SeccompBpfCache(runtime.root) : undefined;
  }

  /** Opens the runtime and conmon (finding their binaries and creating their state dirs). */
  protected static async parts(opts: OciLauncherOptions): Promise<{ runtime: OciRuntime; conmon: Conmon }> {
    const runtime = await OciRuntime.open({
      kind: opts.runtime,
      path: opts.runtimePath,
      root: opts.runtimeRoot,
      systemdCgroup: opts.systemdCgroup,
      readOnlyBinaryDir: opts.runtimeBinDir,
    });
    const conmon = await Conmon.open({
      runtime,
      path: opts.conmonPath,
      monitor: opts.monitor ?? 'ucri',
      exitDir: opts.exitDir,
      socketDir: opts.socketDir,
    });
    await fs.mkdir(opts.execDir, { recursive: true, mode: 0o700 });
    // One scratch dir per exec, each in a block group of its own on ext2/3/4 (pkg/sys markTopDir).
    await markTopDir(opts.execDir);
    return { runtime, conmon };
  }

  get runtimeKind(): RuntimeKind {
    return this.runtime.kind;
  }

  async close(): Promise<void> {
    await this.runtime.close();
  }

  async runtimeFeatures(): Promise<RuntimeFeatures | undefined> {
    return this.runtime.features();
  }

  /** The spec the runtime gets; the posix launcher strips namespaces here. */
  protected adapt(spec: Spec): Spec {
    return spec;
  }

  /**
   * Writes `spec` as the bundle's config.json, in the form this launcher runs it: the one writer of that file,
   * called by `create` only (the runtime is its only reader, and resources may change before start).
   */
  private async writeBundle(bundle: string, config: Spec): Promise<void> {
    // Renamed into place but not fsync'd: config.json is derived from the container record (rec.oci), which is
    // durable, and create() writes it again from that record before every `runc create`, its only reader. A
    // crash that leaves it old, empty or missing therefore loses nothing (docs/performance.md, phase 3).
    // The bundle dir exists (the containerizer made it at create): made only when the write finds it missing.
    const file = path.join(bundle, 'config.json');
    try {
      await writeJsonReplace(file, config);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await fs.mkdir(bundle, { recursive: true, mode: 0o700 });
      await writeJsonReplace(file, config);
    }
  }

  async create(req: LaunchRequest, signal: AbortSignal): Promise<Launched> {
    const config = this.adapt(req.spec);
    // A restore's filter is CRIU's business: the compiled one is neither given nor learnt there.
    const plan = this.seccompFilters && !req.restore ? this.seccompFilters.plan(config) : { spec: config };
    // The log's dir (kubelet's, made by it before the call: one mkdir finds it) beside config.json's write.
    await settleAll([
      this.writeBundle(req.bundle, plan.spec),
      req.logPath === '/dev/null' ? Promise.resolve() : mkdirOnce(path.dirname(req.logPath), 0o777),
    ]);
    const c = await this.conmon.create({
      id: req.id,
      bundle: req.bundle,
      logPath: req.logPath,
      terminal: req.tty,
      stdin: req.stdin,
      stdinOnce: req.stdinOnce,
      restore: req.restore,
      signal,
    });
    if (plan.learnAs) await this.seccompFilters!.learn(req.id, plan.learnAs);
    return {
      pid: c.pid,
      pidStartTime: Number(c.pidStartTime ?? (await readStartTime(c.pid)) ?? 0),
      monitorPid: c.conmonPid,
      monitorStartTime: Number(c.conmonStartTime ?? 0),
    };
  }

  async start(id: string): Promise<void> {
    await this.runtime.start(id, AbortSignal.timeout(60_000));
  }

  async checkpoint(
    id: string,
    opts: { imagePath: string; workPath: string; leaveRunning: boolean },
    signal: AbortSignal,
  ): Promise<void> {
    if (!(await findExecutable('criu'))) {
      throw new FailedPreconditionError('cannot checkpoint: CRIU is not installed (Debian package criu)');
    }
    await this.runtime.checkpoint(id, { ...opts, signal });
  }

  async kill(id: string, signal: string | number, all = false): Promise<void> {
    try {
      await this.runtime.kill(id, signal, { all, signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      if (isKind(err, 'NotFound')) throw err;
      // runc refuses to signal a container whose init has exited ("container not running"): that is gone too.
      const state = await this.runtime.state(id).catch(() => undefined);
      if (state === undefined || state.status === 'stopped') {
        throw new NotFoundError(`container "${id}" is not running`, { cause: err });
      }
      throw err;
    }
  }

  async waitExit(id: string, known?: Launched, signal?: AbortSignal): Promise<number> {
    return this.conmon.waitExit(id, {
      signal,
      conmonPid: known?.monitorPid,
      conmonStartTime: known && known.monitorStartTime > 0 ? BigInt(known.monitorStartTime) : undefined,
    });
  }

  async readExit(id: string): Promise<number | undefined> {
    return this.conmon.readExit(id);
  }

  async destroy(id: string): Promise<void> {
    try {
      await this.runtime.delete(id, { force: true, signal: AbortSignal.timeout(60_000) });
    } catch (err) {
      if (!isKind(err, 'NotFound')) throw err;
    }
    await this.conmon.removeExit(id);
  }

  async exec(id: string, process: Process, timeoutMs: number, signal: AbortSignal): Promise<ExecResult> {
    const opts = { id, process, timeoutMs: timeoutMs > 0 ? timeoutMs : undefined, scratchDir: this.execDir, signal };
    // The exec helper when it is built (no conmon, no log file to write and read back), else conmon --exec.
    return nativeHelper('exec-relay') ? execSyncRelay(this.runtime, opts) : execSync(await this.conmon.conmon(), opts);
  }

  async execStream(id: string, process: Process, stdin: boolean, signal: AbortSignal): Promise<ExecStream> {
    return execStream(this.runtime, { id, process, stdin, scratchDir: this.execDir, signal });
  }

  async update(id: string, resources: LinuxResources): Promise<void> {
    await this.runtime.update(id, resources, AbortSignal.timeout(30_000));
  }

  async reopenLog(_id: string, bundle: string, logPath: string): Promise<void> {
    await Conmon.reopenLog(bundle, logPath);
  }

  async list(): Promise<string[]> {
    return (await this.runtime.list(AbortSignal.timeout(30_000))).map((s) => s.id);
  }

  async alive(l: Launched): Promise<boolean> {
    const start = (t: number): bigint | undefined => (t > 0 ? BigInt(t) : undefined);
    if (await isAlive(l.pid, start(l.pidStartTime))) return true;
    const monitor = await isAlive(l.monitorPid, start(l.monitorStartTime));
    if (monitor) log.debug({ pid: l.pid }, 'init gone, conmon still writing its exit');
    return monitor;
  }
}
