/**
 * volume/image: sub paths resolve inside the image only (symlinks followed as in a chroot), a failed prepare
 * leaves no mount and no lease, cleanup is idempotent, and recovery tears down the volumes of a container
 * without a record (the half-made ones a crash leaves) while re-mounting a known container's lost mount.
 * Real mounts (needs root).
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  checkSubPath,
  type ImageLeases,
  ImageVolumeIsolator,
  resolveSubPath,
} from '../../../pkg/mesos/isolators/volume/image.js';
import { ctx, signal } from './fake.js';

function mounted(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

/** An image store double: two layers on disk, leases in a map. */
class Leases implements ImageLeases {
  readonly held = new Map<string, string>();
  constructor(private readonly dirs: string[]) {}
  async layers(imageId: string) {
    if (imageId !== 'sha256:img') throw Object.assign(new Error(`image "${imageId}" not found`), { kind: 'NotFound' });
    return { imageId, layerDirs: this.dirs };
  }
  async retain(owner: string, imageId: string) {
    await this.layers(imageId);
    this.held.set(owner, imageId);
  }
  async release(owner: string) {
    this.held.delete(owner);
  }
}

describe('volume/image isolator', () => {
  let root: string;
  let leases: Leases;
  let iso: ImageVolumeIsolator;
  const stateDir = () => path.join(root, 'state');
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-k8sckpt-imgvol-'));
    const base = path.join(root, 'l1');
    const top = path.join(root, 'l2');
    await fs.mkdir(path.join(base, 'etc'), { recursive: true });
    await fs.writeFile(path.join(base, 'etc', 'name'), 'base\n');
    await fs.mkdir(path.join(top, 'data'), { recursive: true });
    await fs.writeFile(path.join(top, 'data', 'f'), 'top\n');
    await fs.symlink('/etc', path.join(top, 'data', 'abs'));
    await fs.symlink('../../../../../../etc', path.join(top, 'data', 'up'));
    leases = new Leases([base, top]);
    iso = new ImageVolumeIsolator({ images: leases, stateDir: stateDir() });
  });
  after(async () => {
    for (const m of mounted(root).reverse()) await import('../../../pkg/sys/index.js').then((s) => s.unmount(m));
    await fs.rm(root, { recursive: true, force: true });
  });

  it('checks sub paths: relative, no ".."', () => {
    for (const bad of ['/etc', '../x', 'a/../b', 'a\0b']) assert.throws(() => checkSubPath(bad), /must be relative/);
    checkSubPath('');
    checkSubPath('a/b/./c');
  });

  it('resolves symlinks inside the root, never outside', async () => {
    const top = path.join(root, 'l2');
    assert.equal(await resolveSubPath(top, 'data/f'), path.join(top, 'data', 'f'));
    // Both an absolute link and a climbing one land on the image's /etc, which this layer lacks.
    await assert.rejects(resolveSubPath(top, 'data/abs/name'), /does not exist/);
    await assert.rejects(resolveSubPath(top, 'data/up/name'), /does not exist/);
    await assert.rejects(resolveSubPath(top, 'data/f/x'), /does not exist/);
    assert.equal(await resolveSubPath(path.join(root, 'l1'), 'etc/../etc/name'), path.join(root, 'l1', 'etc', 'name'));
  });

  const spec = (sub: string) => ({
    id: 'c1',
    mounts: [
      {
        containerPath: '/vol',
        hostPath: '',
        readonly: true,
        propagation: 'private' as const,
        recursiveReadOnly: false,
        image: { id: 'sha256:img', ref: 'img' },
        imageSubPath: sub,
      },
    ],
  });

  it('mounts the layers read-only, leased, and cleans up idempotently', async () => {
    const c = ctx({ spec: spec('data/abs') });
    const info = await iso.prepare(c, signal);
    const mp = path.join(stateDir(), 'c1', '0');
    // The merged view: the absolute link in the top layer reaches the base layer's /etc.
    assert.deepEqual(info?.mounts, [
      {
        destination: '/vol',
        type: 'bind',
        source: path.join(mp, 'etc'),
        options: ['rbind', 'ro', 'rprivate', 'nosuid', 'nodev'],
      },
    ]);
    assert.equal(readFileSync(path.join(mp, 'data', 'f'), 'utf8'), 'top\n');
    await assert.rejects(fs.writeFile(path.join(mp, 'x'), ''), /EROFS/);
    assert.deepEqual([...leases.held], [['c1/volume/image/0', 'sha256:img']]);
    await iso.cleanup(c);
    await iso.cleanup(c);
    assert.deepEqual(mounted(stateDir()), []);
    assert.equal(leases.held.size, 0);
    assert.ok(!existsSync(path.join(stateDir(), 'c1')));
  });

  it('a missing sub path fails after the mount; cleanup (the containerizer rollback) leaves nothing', async () => {
    const c = ctx({ spec: spec('nope') });
    await assert.rejects(iso.prepare(c, signal), /does not exist/);
    await iso.cleanup(c);
    assert.deepEqual(mounted(stateDir()), []);
    assert.equal(leases.held.size, 0);
  });

  it('refuses a host path mount inside an image volume (it would be hidden)', async () => {
    const s = spec('');
    const host = { ...s.mounts[0]!, containerPath: '/vol/host', hostPath: '/tmp', image: undefined };
    await assert.rejects(
      iso.prepare(ctx({ spec: { ...s, mounts: [...s.mounts, host] } }), signal),
      /lies inside image volume/,
    );
    assert.deepEqual(mounted(stateDir()), []);
    assert.equal(leases.held.size, 0);
  });

  it('recovery removes half-made volumes of unknown containers and re-mounts known ones', async () => {
    const known = ctx({ spec: spec('') });
    const orphan = ctx({ spec: { ...spec(''), id: 'c2' } });
    await iso.prepare(known, signal);
    await iso.prepare(orphan, signal);
    // A crash after the record but before the mount of a third: only the record is there.
    await fs.mkdir(path.join(stateDir(), 'c3'), { recursive: true });
    await fs.writeFile(
      path.join(stateDir(), 'c3', 'record.json'),
      JSON.stringify({
        version: 1,
        containerId: 'c3',
        volumes: [{ owner: 'c3/volume/image/0', imageId: 'sha256:img', mountPoint: path.join(stateDir(), 'c3', '0') }],
      }),
    );
    leases.held.set('c3/volume/image/0', 'sha256:img');
    // A reboot lost the known container's mount.
    const { unmount } = await import('../../../pkg/sys/index.js');
    await unmount(path.join(stateDir(), 'c1', '0'));
    const fresh = new ImageVolumeIsolator({ images: leases, stateDir: stateDir() });
    await fresh.recover([], [known]);
    assert.deepEqual(mounted(stateDir()), [path.join(stateDir(), 'c1', '0')]);
    assert.deepEqual([...leases.held.keys()], ['c1/volume/image/0']);
    assert.deepEqual(await fs.readdir(stateDir()), ['c1']);
    await fresh.cleanup(known);
    assert.deepEqual(mounted(stateDir()), []);
  });
});
