/**
 * Test fixture for real containers: a busybox-static rootfs, a runc or crun instance with its own --root, conmon
 * with its own exit dir, and per-test bundles whose cgroups live under a test-only parent. `cleanup()`
 * removes every container, cgroup and directory the fixture made; it is safe to call after failures.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  Conmon,
  type CreateOptions,
  defaultSpec,
  fitSpecToHost,
  type MonitorKind,
  OciRuntime,
  type RuntimeKind,
  type Spec,
} from '../../../pkg/oci/index.js';
import { destroyCgroup, isAlive } from '../../../pkg/sys/index.js';
import { configureLogging } from '../../../pkg/util/index.js';

export const BUSYBOX = '/bin/busybox';
const APPLETS = [
  'sh',
  'echo',
  'sleep',
  'cat',
  'id',
  'hostname',
  'readlink',
  'dd',
  'true',
  'ls',
  'touch',
  'test',
  '[',
  'stty',
];

export interface Bundle {
  id: string;
  dir: string;
  logPath: string;
  /** Relative cgroup path (as for pkg/sys cgroups) */
  cgroup: string;
  spec: Spec;
}

export class Fixture {
  readonly runtime: OciRuntime;
  readonly conmon: Conmon;
  readonly cgroupParent: string;
  private readonly made: { id: string; conmonPid?: number }[] = [];
  private n = 0;

  private constructor(
    readonly dir: string,
    readonly rootfs: string,
    runtime: OciRuntime,
    conmon: Conmon,
  ) {
    this.runtime = runtime;
    this.conmon = conmon;
    this.cgroupParent = `ucri-test-${path.basename(dir)}`;
  }

  /** `monitor`: the container monitor under test (default conmon); `runtime`: the OCI runtime (default runc). */
  static async create(monitor: MonitorKind = 'conmon', runtimeKind: RuntimeKind = 'runc'): Promise<Fixture> {
    configureLogging({ silent: true });
    if (process.getuid?.() !== 0) throw new Error('these tests need root (real runc and conmon)');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-oci-'));
    const rootfs = path.join(dir, 'rootfs');
    await fs.mkdir(path.join(rootfs, 'bin'), { recursive: true });
    for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc']) await fs.mkdir(path.join(rootfs, d));
    await fs.copyFile(BUSYBOX, path.join(rootfs, 'bin', 'busybox'));
    await fs.chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
    for (const a of APPLETS) await fs.symlink('busybox', path.join(rootfs, 'bin', a));
    const runtime = await OciRuntime.open({ kind: runtimeKind, root: path.join(dir, runtimeKind) });
    const conmon = await Conmon.open({
      runtime,
      exitDir: path.join(dir, 'exits'),
      socketDir: path.join(dir, 'sockets'),
      monitor,
    });
    if (conmon.monitor !== monitor) throw new Error(`monitor ${monitor} is not available (make native)`);
    return new Fixture(dir, rootfs, runtime, conmon);
  }

  /** A bundle with the default spec running `args`; `edit` may change the spec before it is written. */
  async bundle(args: string[], edit?: (spec: Spec) => void): Promise<Bundle> {
    const id = `c${++this.n}-${path.basename(this.dir).slice(-6).toLowerCase()}`;
    const dir = path.join(this.dir, 'bundles', id);
    await fs.mkdir(dir, { recursive: true });
    const cgroup = `${this.cgroupParent}/${id}`;
    const spec = defaultSpec({ rootfs: this.rootfs, args, cgroupsPath: `/${cgroup}` });
    edit?.(spec);
    await fitSpecToHost(spec);
    await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
    this.made.push({ id });
    return { id, dir, logPath: path.join(dir, 'ctr.log'), cgroup, spec };
  }

  /** Creates the container of `b` under conmon and remembers conmon for cleanup. */
  async createContainer(b: Bundle, opts: Partial<CreateOptions> = {}) {
    const c = await this.conmon.create({ ...opts, id: b.id, bundle: b.dir, logPath: b.logPath });
    const rec = this.made.find((m) => m.id === b.id);
    if (rec) rec.conmonPid = c.conmonPid;
    return c;
  }

  /** Deletes every container, waits for every conmon, removes cgroups and the temp dir. */
  async cleanup(): Promise<void> {
    for (const m of this.made) {
      await this.runtime.delete(m.id, { force: true }).catch(() => {});
      if (m.conmonPid !== undefined) {
        for (let i = 0; i < 200 && (await isAlive(m.conmonPid)); i++) await new Promise((r) => setTimeout(r, 50));
      }
    }
    await destroyCgroup(this.cgroupParent).catch(() => {});
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

/** Polls `fn` until it returns a value other than undefined, or fails after `ms` (a generous bound). */
export async function eventually<T>(fn: () => Promise<T | undefined>, what: string, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
