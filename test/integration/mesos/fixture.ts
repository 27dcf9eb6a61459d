/**
 * Test fixture for the Mesos containerizer with real runc, conmon, provisioner and isolators: a work dir and
 * a runtime dir under a temp dir, a cgroups root of its own, and an image source standing in for the image
 * store that serves one busybox-static layer under any number of image ids (each with its own config).
 * `cleanup()` removes every pod through the containerizer, then checks and removes what might remain.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { basePodSpec } from '../../support/specs.js';
import type { ContainerSpec, ImageConfig, PodSpec, Resources } from '../../../pkg/containerizer/index.js';
import { MesosContainerizer, type MesosOptions } from '../../../pkg/mesos/index.js';
import { cgroupExists, destroyCgroup, listChildCgroups, mountsUnder, unmountAllUnder } from '../../../pkg/sys/index.js';
import { configureLogging, NotFoundError } from '../../../pkg/util/index.js';
import { emptyImageConfig } from '../../../pkg/containerizer/index.js';

export const ISOLATION = [
  'filesystem/linux',
  'docker/runtime',
  'cgroups/cpu',
  'cgroups/mem',
  'cgroups/pids',
  'namespaces/pid',
  'namespaces/ipc',
  'linux/security',
  'volume/host_path',
];
const APPLETS = [
  'sh',
  'echo',
  'sleep',
  'cat',
  'hostname',
  'readlink',
  'dd',
  'true',
  'ls',
  'kill',
  'ps',
  'head',
  'tail',
];

/** Stand-in for the image store: one extracted busybox layer, configs per image id. */
export class TestImages {
  readonly configs = new Map<string, ImageConfig>();
  readonly leases = new Map<string, string>();
  constructor(readonly layerDir: string) {}
  add(id: string, config: Partial<ImageConfig> = {}): string {
    this.configs.set(id, { ...emptyImageConfig(), cmd: ['sh'], env: ['PATH=/bin'], ...config });
    return id;
  }
  async layers(imageId: string) {
    const config = this.configs.get(imageId);
    if (!config) throw new NotFoundError(`image "${imageId}" not found`);
    return { imageId, kind: 'docker' as const, config, layerDirs: [this.layerDir] };
  }
  async retain(owner: string, imageId: string): Promise<void> {
    this.leases.set(owner, imageId);
  }
  async release(owner: string): Promise<void> {
    this.leases.delete(owner);
  }
}

const NO_RESOURCES: Resources = {
  cpuPeriod: 0,
  cpuQuota: 0,
  cpuShares: 0,
  memoryLimitBytes: 0,
  memorySwapLimitBytes: 0,
  oomScoreAdj: 0,
  cpusetCpus: '',
  cpusetMems: '',
  hugepageLimits: [],
  unified: {},
};

export function hexId(): string {
  return randomBytes(32).toString('hex');
}

export class Fixture {
  readonly images: TestImages;
  readonly cgroupsRoot: string;
  readonly made: MesosContainerizer[] = [];
  readonly image: string;

  private constructor(readonly dir: string) {
    this.images = new TestImages(path.join(dir, 'layer'));
    this.cgroupsRoot = `ucri-test-${path.basename(dir).slice(-6).toLowerCase()}`;
    this.image = this.images.add(`sha256:${'a'.repeat(64)}`);
  }

  static async create(): Promise<Fixture> {
    configureLogging({ silent: true });
    if (process.getuid?.() !== 0) throw new Error('these tests need root (real runc, conmon, mounts, cgroups)');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-mesos-'));
    const f = new Fixture(dir);
    const layer = f.images.layerDir;
    for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp'])
      await fs.mkdir(path.join(layer, d), { recursive: true });
    await fs.copyFile('/bin/busybox', path.join(layer, 'bin', 'busybox'));
    await fs.chmod(path.join(layer, 'bin', 'busybox'), 0o755);
    for (const a of APPLETS) await fs.symlink('busybox', path.join(layer, 'bin', a));
    await fs.writeFile(path.join(layer, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    await fs.writeFile(path.join(layer, 'etc', 'group'), 'root:x:0:\n');
    return f;
  }

  get workDir(): string {
    return path.join(this.dir, 'work');
  }
  get runtimeDir(): string {
    return path.join(this.dir, 'run');
  }
  get logDir(): string {
    return path.join(this.dir, 'logs');
  }

  /** A containerizer over the fixture's dirs (a second one over the same dirs plays a restarted daemon). */
  containerizer(extra: Partial<MesosOptions> = {}): MesosContainerizer {
    const m = new MesosContainerizer({
      ociRuntime: 'runc',
      isolation: ISOLATION,
      cniConfigDir: path.join(this.dir, 'cni'),
      cniPluginDirs: ['/usr/lib/cni'],
      workDir: this.workDir,
      runtimeDir: this.runtimeDir,
      cgroupsRoot: this.cgroupsRoot,
      cgroupDriver: 'cgroupfs',
      launcher: 'linux',
      images: this.images,
      infraStopGraceMs: 1000,
      ...extra,
    });
    this.made.push(m);
    return m;
  }

  podSpec(over: Partial<PodSpec> = {}): PodSpec {
    const id = over.id ?? hexId();
    return basePodSpec({
      id,
      name: `pod-${id.slice(0, 6)}`,
      logDirectory: path.join(this.logDir, id),
      ...over,
    });
  }

  containerSpec(pod: PodSpec, args: string[], over: Partial<ContainerSpec> = {}): ContainerSpec {
    const id = over.id ?? hexId();
    return {
      id,
      podId: pod.id,
      name: `c-${id.slice(0, 6)}`,
      attempt: 0,
      image: { id: this.image, ref: 'test/busybox:latest' },
      command: args,
      args: [],
      workingDir: '',
      env: [],
      mounts: [],
      devices: [],
      labels: {},
      annotations: {},
      logPath: path.join(pod.logDirectory, `${id.slice(0, 6)}.log`),
      stdin: false,
      stdinOnce: false,
      tty: false,
      resources: { ...NO_RESOURCES },
      privileged: false,
      capabilities: { add: [], drop: [] },
      namespaces: { pid: 'container', ipc: 'pod', network: 'pod', targetId: '' },
      runAsUser: undefined,
      runAsGroup: undefined,
      runAsUsername: '',
      supplementalGroups: [],
      readonlyRootfs: false,
      noNewPrivs: false,
      maskedPaths: undefined,
      readonlyPaths: undefined,
      seccomp: { type: 'runtime/default' },
      sysctls: {},
      ...over,
    };
  }

  /** The CRI log lines' contents of a container. */
  async logLines(spec: ContainerSpec): Promise<string[]> {
    const text = await fs.readFile(spec.logPath, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split(' ').slice(3).join(' '));
  }

  /** Asserts that nothing of the containerizer is left: pins, mounts, cgroups, runtime containers, dirs. */
  async assertClean(): Promise<void> {
    const mounts = (await mountsUnder(this.dir)).map((m) => m.mountPoint);
    // The pin root and the provisioner may keep their (empty) self-bind roots; nothing below them.
    const deep = mounts.filter((m) => !m.endsWith('/mesos/pins'));
    assert.deepEqual(deep, [], `mounts left: ${deep.join(', ')}`);
    assert.deepEqual(await listChildCgroups(this.cgroupsRoot).catch(() => []), [], 'pod cgroups left');
    for (const d of ['mesos/pods', 'mesos/pins']) {
      const left = await fs.readdir(path.join(this.runtimeDir, d)).catch(() => []);
      assert.deepEqual(left, [], `${d} not empty`);
    }
    const records = await fs.readdir(path.join(this.workDir, 'mesos', 'pods')).catch(() => []);
    assert.deepEqual(records, [], 'records left');
    const runc = await fs.readdir(path.join(this.runtimeDir, 'mesos', 'runc')).catch(() => []);
    assert.deepEqual(runc, [], `runc containers left: ${runc.join(', ')}`);
  }

  /** Removes every pod the containerizers know, then whatever is left, then the temp dir. */
  async cleanup(): Promise<void> {
    for (const m of this.made) m.close();
    const last = this.containerizer();
    // A fresh instance recovering with no known pods destroys everything as orphans.
    await last.recover({ pods: [], containers: [] }).catch((err: unknown) => console.error('cleanup recover', err));
    last.close();
    await unmountAllUnder(this.dir, { lazy: true }).catch(() => {});
    if (await cgroupExists(this.cgroupsRoot)) await destroyCgroup(this.cgroupsRoot).catch(() => {});
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}
