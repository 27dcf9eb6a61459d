import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hostsFile, LinuxFilesystemIsolator, resolvConf } from '../../../pkg/mesos/isolators/filesystem/linux.js';
import { HostPathIsolator, mountOf } from '../../../pkg/mesos/isolators/volume/host-path.js';
import type { MountInfo } from '../../../pkg/sys/index.js';
import { isKind } from '../../../pkg/util/index.js';
import { ctx, pod, signal } from './fake.js';

let tmp: string;
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-fs-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const HOST_RESOLV = '# host\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch example.org\n';

describe('filesystem/linux', () => {
  it('writes hosts and resolv.conf the kubelet way', () => {
    assert.match(hostsFile('web-0', ['10.1.0.5', 'fd00::5']), /\n10\.1\.0\.5\tweb-0\nfd00::5\tweb-0\n$/);
    assert.match(hostsFile('web-0', []), /127\.0\.0\.1\tweb-0\n::1\tweb-0\n$/);
    assert.equal(
      resolvConf(
        { servers: ['10.96.0.10'], searches: ['ns.svc.cluster.local'], options: ['ndots:5'] },
        HOST_RESOLV,
        true,
      ),
      'search ns.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n',
    );
    assert.equal(resolvConf(undefined, HOST_RESOLV, true), '# host\nnameserver 10.0.0.2\nsearch example.org\n');
    assert.equal(resolvConf(undefined, HOST_RESOLV, false), HOST_RESOLV);
    assert.throws(
      () => resolvConf({ servers: ['not-an-ip'], searches: [], options: [] }, '', true),
      (e: unknown) => isKind(e, 'InvalidArgument'),
    );
    assert.throws(
      () => resolvConf({ servers: [], searches: ['a\nnameserver 1.1.1.1'], options: [] }, '', true),
      (e: unknown) => isKind(e, 'InvalidArgument'),
    );
  });

  it('writes the pod files, binds them, joins the pod namespaces and rewrites hosts once IPs are known', async () => {
    const hostResolvConf = path.join(tmp, 'resolv.conf');
    await fs.writeFile(hostResolvConf, HOST_RESOLV);
    const iso = new LinuxFilesystemIsolator({ hostResolvConf });
    // Host IPC keeps setupPod from mounting a tmpfs (no root needed here).
    const p = pod({ namespaces: { network: 'pod', pid: 'container', ipc: 'node' } }, { dir: path.join(tmp, 'pod') });
    await iso.setupPod(p, signal);
    assert.equal(await fs.readFile(path.join(tmp, 'pod/hostname'), 'utf8'), 'web-0\n');
    assert.equal(
      await fs.readFile(path.join(tmp, 'pod/resolv.conf'), 'utf8'),
      '# host\nnameserver 10.0.0.2\nsearch example.org\n',
    );
    assert.equal(((await fs.stat(path.join(tmp, 'pod/hosts'))).mode & 0o777).toString(8), '644');

    p.state.ips = ['10.1.0.5'];
    const c = ctx({
      pod: p,
      spec: { readonlyRootfs: true, namespaces: { pid: 'container', ipc: 'pod', network: 'pod', targetId: '' } },
    });
    const info = await iso.prepare(c);
    assert.match(await fs.readFile(path.join(tmp, 'pod/hosts'), 'utf8'), /10\.1\.0\.5\tweb-0/);
    assert.equal(info.readonlyRootfs, true);
    assert.equal(info.hostname, 'web-0');
    assert.deepEqual(info.namespaces, [
      { type: 'mount' },
      { type: 'network', path: '/run/ucri/ns/pod/net' },
      { type: 'uts', path: '/run/ucri/ns/pod/uts' },
    ]);
    const byDest = new Map(info.mounts?.map((m) => [m.destination, m]));
    assert.equal(byDest.get('/etc/hosts')?.source, path.join(tmp, 'pod/hosts'));
    assert.ok(byDest.get('/etc/resolv.conf')?.options?.includes('ro'), 'read-only with a read-only rootfs');
    assert.equal(byDest.get('/dev/shm')?.source, '/dev/shm', 'host IPC pod gets the host /dev/shm');

    // A CRI mount at /etc/hosts (kubelet-managed) replaces ours.
    const k = await iso.prepare(
      ctx({
        pod: p,
        spec: {
          mounts: [
            {
              containerPath: '/etc/hosts',
              hostPath: '/x',
              readonly: false,
              propagation: 'private',
              recursiveReadOnly: false,
            },
          ],
        },
      }),
    );
    assert.ok(!k.mounts?.some((m) => m.destination === '/etc/hosts'));

    // The hosts file is not read again while unchanged, but a changed one (a container wrote its /etc/hosts,
    // or the pod's IPs changed) is still rewritten at the next create.
    const hosts = path.join(tmp, 'pod/hosts');
    const good = await fs.readFile(hosts, 'utf8');
    await iso.prepare(c);
    assert.equal(await fs.readFile(hosts, 'utf8'), good);
    await fs.writeFile(hosts, `${good}# edited\n`);
    await iso.prepare(c);
    assert.equal(await fs.readFile(hosts, 'utf8'), good);
    await fs.rm(hosts);
    await fs.writeFile(hosts, good.replace('10.1.0.5', '10.1.0.6')); // same size, another inode
    await iso.prepare(c);
    assert.equal(await fs.readFile(hosts, 'utf8'), good);
    p.state.ips = ['10.1.0.7'];
    await iso.prepare(c);
    assert.match(await fs.readFile(hosts, 'utf8'), /10\.1\.0\.7\tweb-0/);
    p.state.ips = ['10.1.0.5'];

    await iso.cleanupPod(p);
    await iso.cleanupPod(p);
    assert.deepEqual(await fs.readdir(path.join(tmp, 'pod')), []);
  });

  it('gives host-network pods the host namespaces and a pod without a netns an error', async () => {
    const iso = new LinuxFilesystemIsolator({});
    const hostNet = pod({ namespaces: { network: 'node', pid: 'container', ipc: 'pod' } });
    const info = await iso.prepare(ctx({ pod: hostNet }));
    assert.deepEqual(info.namespaces, [{ type: 'mount' }]);
    assert.equal(info.hostname, undefined);
    await assert.rejects(iso.prepare(ctx({ pod: pod({}, { netns: undefined }) })), (e: unknown) =>
      isKind(e, 'FailedPrecondition'),
    );
    await assert.rejects(
      iso.prepare(
        ctx({ spec: { devices: [{ hostPath: '/no/such/dev', containerPath: '/dev/x', permissions: 'rw' }] } }),
      ),
      (e: unknown) => isKind(e, 'FailedPrecondition'),
    );
    const dev = await iso.prepare(
      ctx({ spec: { devices: [{ hostPath: '/dev/null', containerPath: '/dev/mynull', permissions: 'r' }] } }),
    );
    assert.deepEqual(
      dev.devices?.map((d) => [d.path, d.type, d.major, d.minor]),
      [['/dev/mynull', 'c', 1, 3]],
    );
    assert.deepEqual(dev.resources?.devices, [{ allow: true, type: 'c', major: 1, minor: 3, access: 'r' }]);
  });
});

describe('volume/host_path', () => {
  const info = (mountPoint: string, shared?: number, master?: number): MountInfo => ({
    id: 1,
    parentId: 0,
    major: 0,
    minor: 0,
    root: '/',
    mountPoint,
    options: [],
    optionalFields: [],
    propagation: { shared, master, unbindable: false },
    fsType: 'ext4',
    source: 'x',
    superOptions: [],
  });

  it('finds the mount holding a path', () => {
    const table = [info('/'), info('/var', 1), info('/var/lib/x', undefined, 2)];
    assert.equal(mountOf(table, '/var/lib/x/y')?.mountPoint, '/var/lib/x');
    assert.equal(mountOf(table, '/var/lib/xy')?.mountPoint, '/var');
    assert.equal(mountOf(table, '/etc')?.mountPoint, '/');
  });

  it('creates missing host paths and builds bind mounts, read-only where asked', async () => {
    const iso = new HostPathIsolator({ recursiveReadOnlyMounts: false });
    const src = path.join(tmp, 'vol', 'deep');
    const res = await iso.prepare(
      ctx({
        spec: {
          mounts: [
            {
              containerPath: '/data/sub',
              hostPath: src,
              readonly: false,
              propagation: 'private',
              recursiveReadOnly: false,
            },
            { containerPath: '/data', hostPath: tmp, readonly: true, propagation: 'private', recursiveReadOnly: false },
          ],
        },
      }),
    );
    assert.ok((await fs.stat(src)).isDirectory());
    assert.deepEqual(res?.mounts, [
      { destination: '/data', type: 'bind', source: await fs.realpath(tmp), options: ['rbind', 'ro', 'rprivate'] },
      { destination: '/data/sub', type: 'bind', source: await fs.realpath(src), options: ['rbind', 'rw', 'rprivate'] },
    ]);
    const rro = {
      containerPath: '/r',
      hostPath: tmp,
      readonly: true,
      propagation: 'private' as const,
      recursiveReadOnly: true,
    };
    await assert.rejects(iso.prepare(ctx({ spec: { mounts: [rro] } })), (e: unknown) =>
      isKind(e, 'FailedPrecondition'),
    );
    const ok = await new HostPathIsolator({ recursiveReadOnlyMounts: true }).prepare(ctx({ spec: { mounts: [rro] } }));
    assert.ok(ok?.mounts?.[0]?.options?.includes('rro'));
    await assert.rejects(iso.prepare(ctx({ spec: { mounts: [{ ...rro, readonly: false }] } })), (e: unknown) =>
      isKind(e, 'InvalidArgument'),
    );
    await assert.rejects(
      iso.prepare(ctx({ spec: { mounts: [{ ...rro, recursiveReadOnly: false, containerPath: 'rel' }] } })),
      (e: unknown) => isKind(e, 'InvalidArgument'),
    );
  });
});
