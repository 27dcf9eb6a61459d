/**
 * Real containers from specs the isolators and the merge built: runc under conmon, a pod with pinned
 * net/ipc/uts namespaces, its /dev/shm tmpfs and cgroup made by setupPod. Needs root. Everything (pins,
 * mounts, cgroups, containers, directories) is removed in `after`.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ContainerSpec } from '../../../pkg/containerizer/index.js';
import type { ContainerContext, Isolator, PodContext } from '../../../pkg/mesos/isolator.js';
import { containerCgroupPath, createIsolators, ISOLATOR_NAMES } from '../../../pkg/mesos/isolators/index.js';
import { buildSpec } from '../../../pkg/mesos/launch-info.js';
import { readK8sLog } from '../../../pkg/oci/index.js';
import {
  controllerDir,
  createPinnedNamespaces,
  ensurePinRoot,
  isMountPoint,
  mountsUnder,
  readCgroupFile,
  removePinnedNamespaces,
  unmountAllUnder,
} from '../../../pkg/sys/index.js';
import { containerSpec, imageConfig, podSpec, resources } from '../../unit/isolators/fake.js';
import { Fixture } from '../oci/fixture.js';

let f: Fixture;
let pinRoot: string;
let pod: PodContext;
let isolators: Isolator[];
const signal = new AbortController().signal;

before(async () => {
  f = await Fixture.create();
  await fs.writeFile(path.join(f.rootfs, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n');
  await fs.writeFile(path.join(f.rootfs, 'etc/group'), 'root:x:0:\napp:x:1000:\nstaff:x:50:app\n');
  await fs.writeFile(path.join(f.dir, 'host-resolv.conf'), 'nameserver 127.0.0.53\n');
  pinRoot = path.join(f.dir, 'pins');
  await ensurePinRoot(pinRoot);
  const pins = await createPinnedNamespaces(pinRoot, 'pod1', { hostname: 'web-0' });
  const spec = podSpec({
    dns: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] },
  });
  pod = {
    spec,
    state: {
      id: spec.id,
      netns: pins.net,
      ipcns: pins.ipc,
      utsns: pins.uts,
      dir: path.join(f.dir, 'pod'),
      cgroup: `${f.cgroupParent}/pod1`,
      ips: [],
      infraPid: 0,
      data: {},
    },
  };
  // network/cni needs CNI plugins and a bridge: test/integration/network covers it.
  isolators = createIsolators(
    ISOLATOR_NAMES.filter((n) => n !== 'network/cni'),
    {
      cgroupDriver: 'cgroupfs',
      cgroupsRoot: f.cgroupParent,
      recursiveReadOnlyMounts: false,
      hostResolvConf: path.join(f.dir, 'host-resolv.conf'),
    },
  );
  for (const iso of isolators) await iso.setupPod?.(pod, signal);
  // What network/cni would have found.
  pod.state.ips = ['10.1.0.5'];
});

after(async () => {
  if (pod) for (const iso of [...isolators].reverse()) await iso.cleanupPod?.(pod).catch(() => {});
  if (pinRoot) {
    await removePinnedNamespaces(pinRoot, 'pod1').catch(() => {});
    await unmountAllUnder(pinRoot, { lazy: true });
  }
  await f?.cleanup();
});

/** Runs `script` in a container built by every isolator; returns its output and exit code. */
async function run(
  script: string,
  over: Partial<ContainerSpec>,
  imageUser = '',
  whileCreated?: (ctx: ContainerContext) => Promise<void>,
) {
  const b = await f.bundle(['true']);
  const spec = containerSpec({ id: b.id, command: ['sh', '-c', script], ...over });
  const ctx: ContainerContext = {
    spec,
    pod,
    image: { config: imageConfig({ user: imageUser }), kind: 'docker' },
    rootfs: f.rootfs,
    dir: b.dir,
    cgroup: containerCgroupPath(pod.state.cgroup, b.id, 'cgroupfs'),
  };
  const fragments = [];
  for (const iso of isolators) {
    const info = await iso.prepare?.(ctx, signal);
    if (info) fragments.push({ isolator: iso.name, info });
  }
  const oci = await buildSpec(fragments, { rootfs: f.rootfs, terminal: false });
  await fs.writeFile(path.join(b.dir, 'config.json'), JSON.stringify(oci));
  const c = await f.createContainer(b);
  await whileCreated?.(ctx);
  await f.runtime.start(b.id);
  const code = await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid });
  const log = await readK8sLog(b.logPath, 1 << 20);
  return { code, out: log.stdout.toString(), err: log.stderr.toString() };
}

describe('isolators on real containers', () => {
  it('runs as the resolved user with its groups, in the pod files, under the memory limit', async () => {
    let limit: string | undefined;
    const r = await run(
      'id -u; id -G; hostname; cat /etc/hosts; echo ---; cat /etc/resolv.conf',
      { supplementalGroups: [4000], resources: resources({ memoryLimitBytes: 64 << 20 }) },
      'app',
      async (ctx) => {
        limit = await readCgroupFile(path.join((await controllerDir(ctx.cgroup, 'memory'))!, 'memory.limit_in_bytes'));
      },
    );
    assert.equal(r.code, 0, r.err);
    assert.equal(limit?.trim(), String(64 << 20));
    const [uid, groups, hostname, ...rest] = r.out.split('\n');
    assert.equal(uid, '1000');
    assert.deepEqual(groups?.split(' ').sort(), ['1000', '4000', '50']);
    assert.equal(hostname, 'web-0');
    const [hosts, resolv] = rest.join('\n').split('---\n');
    assert.match(hosts ?? '', /^127\.0\.0\.1\tlocalhost$/m);
    assert.match(hosts ?? '', /^10\.1\.0\.5\tweb-0$/m);
    assert.equal(resolv, 'search default.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n');
  });

  it('drops a capability, keeps the rootfs and a ro host path read-only, shares the pod /dev/shm', async () => {
    const ro = path.join(f.dir, 'vol-ro');
    const rw = path.join(f.dir, 'vol-rw');
    await fs.mkdir(ro);
    const r = await run(
      [
        'cat /proc/self/status',
        'touch /rw/ok && echo rw-ok',
        'touch /data/no 2>/dev/null || echo data-ro',
        'touch /x 2>/dev/null || echo rootfs-ro',
        'echo hi > /dev/shm/marker',
      ].join('; '),
      {
        readonlyRootfs: true,
        capabilities: { add: [], drop: ['CHOWN'] },
        mounts: [
          { containerPath: '/data', hostPath: ro, readonly: true, propagation: 'private', recursiveReadOnly: false },
          { containerPath: '/rw', hostPath: rw, readonly: false, propagation: 'private', recursiveReadOnly: false },
        ],
      },
    );
    assert.equal(r.code, 0, r.err);
    const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(r.out)?.[1] ?? 'x'}`);
    assert.equal(capEff & 1n, 0n, 'CAP_CHOWN (0) is dropped');
    assert.equal((capEff >> 5n) & 1n, 1n, 'CAP_KILL (5) is kept');
    assert.match(r.out, /^rw-ok$/m);
    assert.match(r.out, /^data-ro$/m);
    assert.match(r.out, /^rootfs-ro$/m);
    await fs.access(path.join(rw, 'ok'));
    await assert.rejects(fs.access(path.join(ro, 'no')));
    assert.equal(await fs.readFile(path.join(pod.state.dir, 'shm', 'marker'), 'utf8'), 'hi\n');
  });

  it('cleanupPod unmounts the pod /dev/shm and removes the pod files', async () => {
    const shm = path.join(pod.state.dir, 'shm');
    assert.ok(await isMountPoint(shm));
    for (const iso of [...isolators].reverse()) await iso.cleanupPod?.(pod);
    assert.deepEqual(await mountsUnder(pod.state.dir), []);
    assert.deepEqual(await fs.readdir(pod.state.dir), []);
  });
});
