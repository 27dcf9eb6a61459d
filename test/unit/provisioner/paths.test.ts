import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { diskUsage, missingMountTargets, parseBackendChoice } from '../../../pkg/mesos/provisioner/index.js';
import { ProvisionerPaths } from '../../../pkg/mesos/provisioner/paths.js';
import { isKind } from '../../../pkg/util/index.js';

let tmp: string;
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-prov-unit-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('provisioner paths', () => {
  it('draws the layout under <work_dir>/provisioner', () => {
    const p = new ProvisionerPaths('/var/lib/ucri');
    assert.equal(p.containerDir('abc'), '/var/lib/ucri/provisioner/containers/abc');
    assert.equal(p.record('abc'), '/var/lib/ucri/provisioner/containers/abc/record.json');
    assert.equal(
      p.rootfs('abc', 'overlay', '0123456789abcdef'),
      '/var/lib/ucri/provisioner/containers/abc/backends/overlay/rootfses/0123456789abcdef',
    );
    assert.equal(
      p.upper('abc', '0123456789abcdef'),
      '/var/lib/ucri/provisioner/containers/abc/backends/overlay/scratch/0123456789abcdef/upper',
    );
  });

  it('refuses ids that are not one plain path component', () => {
    const p = new ProvisionerPaths('/w');
    for (const bad of ['', '.', '..', '../x', 'a/b', '-a', 'x'.repeat(129), 'a\nb']) {
      assert.throws(
        () => p.containerDir(bad),
        (e: unknown) => isKind(e, 'InvalidArgument'),
        JSON.stringify(bad),
      );
    }
    assert.throws(
      () => p.rootfs('a', 'copy', '../../x'),
      (e: unknown) => isKind(e, 'InvalidArgument'),
    );
    assert.throws(
      () => new ProvisionerPaths('relative'),
      (e: unknown) => isKind(e, 'InvalidArgument'),
    );
  });
});

describe('backend choice', () => {
  it('accepts the four names, explains aufs, rejects the rest', () => {
    for (const b of ['overlay', 'copy', 'bind', 'auto']) assert.equal(parseBackendChoice(b), b);
    assert.throws(
      () => parseBackendChoice('aufs'),
      (e: unknown) => isKind(e, 'FailedPrecondition'),
    );
    assert.throws(
      () => parseBackendChoice('Overlay'),
      (e: unknown) => isKind(e, 'InvalidArgument'),
    );
  });
});

describe('missingMountTargets', () => {
  it('follows symlinks inside the rootfs, never out of it', async () => {
    const root = path.join(tmp, 'root');
    await fs.mkdir(path.join(root, 'etc'), { recursive: true });
    await fs.mkdir(path.join(root, 'real'), { recursive: true });
    await fs.writeFile(path.join(root, 'etc', 'hosts'), '');
    await fs.symlink('/real', path.join(root, 'abs'));
    await fs.symlink('../../../real', path.join(root, 'etc', 'up'));
    await fs.symlink('/tmp', path.join(root, 'hosttmp'));
    await fs.symlink('loop', path.join(root, 'loop'));
    const got = await missingMountTargets(root, [
      '/etc/hosts',
      '/abs',
      '/etc/up',
      '/hosttmp',
      '/loop',
      '/etc/hosts/x',
      '/../etc/hosts',
    ]);
    // /tmp exists on the host, not in the rootfs; `..` above the root stays at the root.
    assert.deepEqual(got, ['/hosttmp', '/loop', '/etc/hosts/x']);
  });
});

describe('diskUsage', () => {
  it('counts blocks and inodes once per hard-linked file', async () => {
    const d = path.join(tmp, 'du');
    await fs.mkdir(path.join(d, 'sub'), { recursive: true });
    await fs.writeFile(path.join(d, 'sub', 'a'), Buffer.alloc(64 * 1024, 1));
    await fs.link(path.join(d, 'sub', 'a'), path.join(d, 'b'));
    await fs.symlink('sub/a', path.join(d, 'c'));
    const u = await diskUsage(d);
    assert.equal(u.inodes, 4, 'dir, sub, a (= b), c');
    assert.ok(u.bytes >= 64 * 1024 && u.bytes < 3 * 64 * 1024, String(u.bytes));
    assert.deepEqual(await diskUsage(path.join(tmp, 'absent')), { bytes: 0, inodes: 0 });
  });
});
