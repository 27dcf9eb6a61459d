/**
 * Driver for an OCI runtime CLI (runc or crun). `create` and `exec` are not here: conmon runs them so that it
 * holds the container's stdio (see conmon.ts). Every call passes `--root <dir>`, the runtime's state directory
 * for this ucri instance, so two daemons never see each other's containers, and `--systemd-cgroup` when the
 * host's cgroup driver is systemd.
 *
 * crun on a hybrid cgroup host whose cgroup2 tree holds a controller (crun up to at least 1.8 refuses to place
 * a container in cgroups there) runs under `nsutil cgroup1-view`: in a mount namespace of its own without the
 * cgroup2 mount, where it sees a v1 host and uses the v1 hierarchies as runc does. `program` and
 * `globalArgs()` then name nsutil and put `cgroup1-view <crun>` first; every caller (conmon, exec, the calls
 * here) runs `program` with `globalArgs()`.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { type CgroupLayout, detectCgroups, nativeHelper, type RunResult, run } from '../sys/index.js';
import {
  checkId,
  errorMessage,
  FailedPreconditionError,
  findExecutable,
  InternalError,
  InvalidArgumentError,
  logger,
  NotFoundError,
  requireExecutable,
  SYSTEM_DIRS,
} from '../util/index.js';
import { CRUN_STATE } from './crun-state.js';
import { ReadOnlyBinary } from './ro-binary.js';
import { RUNC_STATE } from './runc-state.js';
import type { LinuxResources, State } from './spec.js';
import type { StateShortcuts } from './state-shortcuts.js';

const log = logger('oci/runtime');

export type RuntimeKind = 'runc' | 'crun';

export interface RuntimeOptions {
  /** Which runtime; also the binary looked up on PATH when `path` is not given. Default runc. */
  kind?: RuntimeKind;
  /** Absolute path of the binary (conmon needs one). */
  path?: string;
  /** State directory (`--root`), one per ucri instance. */
  root: string;
  /** Use the systemd cgroup driver (`--systemd-cgroup`). */
  systemdCgroup?: boolean;
  /**
   * For crun: a directory of this instance where the binary is bind-mounted read-only and run from, so
   * that crun does not copy and re-execute itself on every call (ro-binary.ts). Undefined: run as found.
   */
  readOnlyBinaryDir?: string;
}

export interface RuntimeVersion {
  /** e.g. "1.1.5+ds1" */
  version: string;
  /** The highest runtime-spec version it implements, when it says. */
  spec?: string;
  raw: string;
}

const SIGNAL_RE = /^(SIG)?[A-Z0-9+-]{2,12}$|^\d{1,2}$/;

/** Validates a container id for the runtime command line. */
export function validateContainerId(id: string): void {
  checkId(id, 'container id');
}

/** The error message a runtime printed: runc's `msg="…"`, else the last non-empty stderr line. */
export function runtimeMessage(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = lines[i]!.match(/msg="((?:[^"\\]|\\.)*)"/);
    if (m) return m[1]!.replace(/\\"/g, '"');
  }
  return (lines[lines.length - 1] ?? '').trim();
}

/** True when a runtime's stderr says the container is unknown (runc and crun wordings). */
export function isNotExistMessage(stderr: string): boolean {
  return /container does not exist|container .* does not exist|error opening file .*status.*No such file or directory|container not found/i.test(
    stderr,
  );
}

/** The `Error (…)` lines of a CRIU log, joined (what CRIU reported), or '' when there are none. */
export async function criuErrors(logFile: string): Promise<string> {
  const text = await fs.readFile(logFile, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => /^\s*(\(\d+\.\d+\)\s*)?Error\b/.test(l))
    .map((l) => l.replace(/^\s*\(\d+\.\d+\)\s*/, '').trim())
    .slice(0, 6)
    .join('; ');
}

/**
 * True when a hybrid host's cgroup2 tree, mounted where crun looks for it (/sys/fs/cgroup/unified, which
 * `nsutil cgroup1-view` detaches), has controllers of its own (`cgroup.controllers` not empty): the case crun
 * refuses, for which crun runs under the view.
 */
export async function hybridWithV2Controllers(layout: CgroupLayout): Promise<boolean> {
  if (layout.mode !== 'hybrid' || layout.unified !== '/sys/fs/cgroup/unified') return false;
  const text = await fs.readFile(path.join(layout.unified, 'cgroup.controllers'), 'utf8').catch(() => '');
  return text.trim() !== '';
}

/**
 * The runtime `oci_runtime = "auto"` means on this host: crun when its binary is installed (and, on a hybrid
 * host whose cgroup2 tree holds controllers, nsutil is built for `cgroup1-view`), else runc. crun creates,
 * starts and execs without a Go runtime's start-up and a copy of its own binary per call, the bulk of runc's
 * StartContainer and ExecSync time (docs/performance.md, "crun, phase 9"). An explicit `path` decides by its
 * name. `runc` and `crun` are returned as given.
 */
export async function resolveRuntimeKind(name: string, explicitPath?: string): Promise<RuntimeKind> {
  if (name === 'runc' || name === 'crun') return name;
  if (name !== 'auto') throw new InvalidArgumentError(`unknown OCI runtime "${name}" (runc, crun or auto)`);
  if (explicitPath) return path.basename(explicitPath).startsWith('crun') ? 'crun' : 'runc';
  if (!(await findExecutable('crun', SYSTEM_DIRS))) return 'runc';
  if ((await hybridWithV2Controllers(await detectCgroups())) && !nativeHelper('nsutil')) return 'runc';
  return 'crun';
}

export class OciRuntime {
  readonly kind: RuntimeKind;
  /** The runtime's binary, as installed. */
  readonly binary: string;
  readonly root: string;
  readonly systemdCgroup: boolean;
  /** nsutil, when the runtime runs under its `cgroup1-view`. */
  private readonly view: string | undefined;
  /** The binary's read-only mount, when there is one (RuntimeOptions.readOnlyBinaryDir). */
  private readonly readOnly: ReadOnlyBinary | undefined;
  /** start, kill and delete from this runtime's own state where that is exactly its outcome. */
  private readonly fromState: StateShortcuts;

  private constructor(
    kind: RuntimeKind,
    binary: string,
    root: string,
    systemdCgroup: boolean,
    view: string | undefined,
    readOnly: ReadOnlyBinary | undefined,
  ) {
    this.kind = kind;
    this.binary = binary;
    this.view = view;
    this.readOnly = readOnly;
    this.fromState = kind === 'runc' ? RUNC_STATE : CRUN_STATE;
    this.root = root;
    this.systemdCgroup = systemdCgroup;
  }

  /** The runtime's binary to execute: its read-only mount while that shows the installed file, else the file. */
  get executable(): string {
    return this.readOnly?.path() ?? this.binary;
  }

  /** What runs for every call: the runtime's executable, or nsutil when it runs under `cgroup1-view`. */
  get program(): string {
    return this.view ?? this.executable;
  }

  /** Arguments before the runtime's own: `cgroup1-view <executable>` under nsutil, else none. */
  private get prefix(): string[] {
    return this.view ? ['cgroup1-view', this.executable] : [];
  }

  /**
   * Finds the binary, creates the state directory (0700) and returns the driver. crun on a hybrid host with
   * cgroup2 controllers runs under nsutil's `cgroup1-view` (FailedPreconditionError when nsutil is missing).
   */
  static async open(opts: RuntimeOptions): Promise<OciRuntime> {
    const kind = opts.kind ?? 'runc';
    if (!path.isAbsolute(opts.root)) throw new InvalidArgumentError(`runtime root "${opts.root}" is not absolute`);
    const binary = await requireExecutable(opts.path ?? kind, SYSTEM_DIRS);
    let view: string | undefined;
    if (kind === 'crun' && (await hybridWithV2Controllers(await detectCgroups()))) {
      view = nativeHelper('nsutil');
      if (!view) {
        throw new FailedPreconditionError(
          "crun on this hybrid cgroup host needs ucri's nsutil helper (cgroup1-view), which is not built; use runc",
        );
      }
    }
    await fs.mkdir(opts.root, { recursive: true, mode: 0o700 });
    let readOnly: ReadOnlyBinary | undefined;
    if (kind === 'crun' && opts.readOnlyBinaryDir !== undefined) {
      // Without the mount crun still runs, copying itself per call as it always did.
      readOnly = await ReadOnlyBinary.open(binary, opts.readOnlyBinaryDir).catch((err: unknown) => {
        log.warn({ binary, err: errorMessage(err) }, 'cannot mount the runtime binary read-only; running it as found');
        return undefined;
      });
    }
    return new OciRuntime(kind, binary, opts.root, opts.systemdCgroup ?? false, view, readOnly);
  }

  /**
   * Detaches the binary's read-only mount (at a clean daemon stop): a runtime process started from it keeps
   * running; calls after this run the installed file.
   */
  async close(): Promise<void> {
    await this.readOnly?.close();
  }

  /**
   * Arguments after `program` and before the subcommand: `cgroup1-view <binary>` when viewed, then the
   * runtime's global flags. `--systemd-cgroup` matters only to create/update; runc ignores it elsewhere.
   */
  globalArgs(): string[] {
    const a = [...this.prefix, '--root', this.root];
    if (this.systemdCgroup) a.push('--systemd-cgroup');
    return a;
  }

  /** Arguments conmon must pass before the subcommand (`--runtime-arg`): the view's, then the state root. */
  conmonRuntimeArgs(): string[] {
    return [...this.prefix, `--root=${this.root}`];
  }

  private async call(id: string | undefined, args: string[], signal?: AbortSignal, stdin?: string): Promise<RunResult> {
    const r = await run(this.program, [...this.globalArgs(), ...args], { signal, stdin, allowFailure: true });
    if (r.code === 0) return r;
    const msg = runtimeMessage(r.stderr) || `exit status ${r.code ?? r.signal}`;
    if (id !== undefined && isNotExistMessage(r.stderr)) {
      throw new NotFoundError(`container "${id}" does not exist in ${this.kind}`);
    }
    throw new InternalError(`${this.kind} ${args[0]}${id ? ` "${id}"` : ''} failed: ${msg}`);
  }

  /** The runtime's view of container `id`; NotFoundError when it does not know it. */
  async state(id: string, signal?: AbortSignal): Promise<State> {
    validateContainerId(id);
    const r = await this.call(id, ['state', id], signal);
    try {
      return JSON.parse(r.stdout) as State;
    } catch (err) {
      throw new InternalError(`${this.kind} state "${id}" printed invalid json`, { cause: err });
    }
  }

  /** All containers under this root (for recovery). */
  async list(signal?: AbortSignal): Promise<State[]> {
    const r = await this.call(undefined, ['list', '--format', 'json'], signal);
    const text = r.stdout.trim();
    if (text === '' || text === 'null') return [];
    return JSON.parse(text) as State[];
  }

  /** Releases a created container's init to exec the user process (`start`). */
  async start(id: string, signal?: AbortSignal): Promise<void> {
    validateContainerId(id);
    // Without a runtime process where the runtime's own state answers (runc-state.ts, crun-state.ts).
    if (await this.fromState.start(this.root, id, signal)) return;
    await this.call(id, ['start', id], signal);
  }

  /**
   * Sends `sig` (name such as "SIGTERM"/"TERM" or number) to the init process, or with `all` to every
   * process of the container.
   */
  async kill(id: string, sig: string | number, opts: { all?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    validateContainerId(id);
    const s = String(sig);
    if (!SIGNAL_RE.test(s)) throw new InvalidArgumentError(`invalid signal "${s}"`);
    // Without a runtime process where the runtime's own state answers (runc-state.ts, crun-state.ts).
    const killed = await this.fromState.kill(this.root, id, s, opts.all);
    if (killed === 'gone') throw new NotFoundError(`container "${id}" is not running`);
    if (killed) return;
    const args = ['kill'];
    if (opts.all) args.push('--all');
    await this.call(id, [...args, id, s], opts.signal);
  }

  /**
   * Deletes the runtime's record (and cgroup) of a stopped container; with `force`, kills a running one
   * first. NotFoundError when the runtime does not know `id`.
   */
  async delete(id: string, opts: { force?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    validateContainerId(id);
    // A stopped container is deleted without a runtime process where that is exactly the runtime's result.
    const deleted = await this.fromState.delete(this.root, id);
    if (deleted === 'absent') throw new NotFoundError(`container "${id}" does not exist in ${this.kind}`);
    if (deleted) return;
    await this.call(id, opts.force ? ['delete', '--force', id] : ['delete', id], opts.signal);
  }

  /** Changes the cgroup limits of a running container (`update --resources -`). */
  async update(id: string, resources: LinuxResources, signal?: AbortSignal): Promise<void> {
    validateContainerId(id);
    if (this.kind === 'runc') {
      await this.call(id, ['update', '--resources', '-', id], signal, JSON.stringify(resources));
      return;
    }
    // crun reads `-` as /dev/stdin, which it cannot open on the socket node gives a child as stdin: a file,
    // beside the state dirs (a dot name, which no listing of the root takes for a container).
    const file = path.join(this.root, `.update-${id}-${randomBytes(6).toString('hex')}.json`);
    await fs.writeFile(file, JSON.stringify(resources), { mode: 0o600, flag: 'wx' });
    try {
      await this.call(id, ['update', '--resources', file, id], signal);
    } finally {
      await fs.rm(file, { force: true });
    }
  }

  /**
   * Checkpoints a running container with CRIU (`checkpoint --image-path`), leaving it running unless
   * `leaveRunning` is false. CRIU's own log goes to `<workPath>/dump.log`. FailedPreconditionError naming
   * the `Error` lines CRIU wrote when CRIU refuses (a kernel it cannot handle, a resource it cannot dump).
   */
  async checkpoint(
    id: string,
    opts: { imagePath: string; workPath: string; leaveRunning: boolean; signal?: AbortSignal },
  ): Promise<void> {
    validateContainerId(id);
    for (const p of [opts.imagePath, opts.workPath]) {
      if (!path.isAbsolute(p)) throw new InvalidArgumentError(`checkpoint path "${p}" is not absolute`);
    }
    const args = ['checkpoint', '--image-path', opts.imagePath, '--work-path', opts.workPath];
    if (opts.leaveRunning) args.push('--leave-running');
    args.push(id);
    const r = await run(this.program, [...this.globalArgs(), ...args], { signal: opts.signal, allowFailure: true });
    if (r.code === 0) return;
    if (isNotExistMessage(r.stderr)) throw new NotFoundError(`container "${id}" does not exist in ${this.kind}`);
    const unsupported = this.withoutCriu(r.stderr);
    if (unsupported) throw new FailedPreconditionError(`cannot checkpoint container "${id}": ${unsupported}`);
    const criu = await criuErrors(path.join(opts.workPath, 'dump.log'));
    const msg = criu || runtimeMessage(r.stderr) || `exit status ${r.code ?? r.signal}`;
    throw new FailedPreconditionError(`CRIU could not checkpoint container "${id}": ${msg}`);
  }

  /**
   * The reason checkpoint and restore cannot work at all when a runtime's stderr says it has no such command
   * (crun built without CRIU, as Debian's 1.8 is), else undefined.
   */
  withoutCriu(stderr: string): string | undefined {
    if (!/unknown command (checkpoint|restore)/i.test(stderr)) return undefined;
    return `this ${this.kind} (${this.binary}) was built without checkpoint/restore (CRIU) support; run ucri with oci_runtime = "runc" for CheckpointContainer and restores`;
  }

  /** Host PIDs of the processes in the container. */
  async ps(id: string, signal?: AbortSignal): Promise<number[]> {
    validateContainerId(id);
    const r = await this.call(id, ['ps', '--format', 'json', id], signal);
    const v = JSON.parse(r.stdout.trim() || '[]') as unknown;
    if (!Array.isArray(v) || v.some((p) => typeof p !== 'number')) {
      throw new InternalError(`${this.kind} ps "${id}" printed unexpected output`);
    }
    return v as number[];
  }

  /** Parses `<runtime> --version`. */
  async version(signal?: AbortSignal): Promise<RuntimeVersion> {
    const r = await run(this.binary, ['--version'], { signal });
    const version = r.stdout.match(/^(?:runc|crun) version (\S+)/m)?.[1];
    if (!version) throw new InternalError(`cannot parse ${this.kind} version from "${r.stdout.trim()}"`);
    const spec = r.stdout.match(/^spec:\s*(\S+)/m)?.[1];
    return { version, spec, raw: r.stdout };
  }

  /**
   * `<runtime> features` as JSON, or undefined when this runtime version lacks the subcommand. crun before
   * 1.9 has none; from 1.8 on it applies `rro` (recursively, with mount_setattr), which is then reported as
   * its only known mount option.
   */
  async features(signal?: AbortSignal): Promise<Record<string, unknown> | undefined> {
    const r = await run(this.binary, ['features'], { signal, allowFailure: true });
    if (r.code !== 0) {
      if (this.kind !== 'crun') return undefined;
      const v = await this.version(signal).catch(() => undefined);
      const [major = 0, minor = 0] = (v?.version ?? '').split('.').map((n) => Number.parseInt(n, 10) || 0);
      return major > 1 || (major === 1 && minor >= 8) ? { mountOptions: ['rro'] } : undefined;
    }
    try {
      return JSON.parse(r.stdout) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }

  /** Verifies the runtime answers (`--version`); logs its version and whether it runs under `cgroup1-view`. */
  async checkHost(signal?: AbortSignal): Promise<void> {
    const v = await this.version(signal);
    log.debug({ runtime: this.kind, version: v.version, cgroup1View: this.prefix.length > 0 }, 'runtime ok');
  }
}
