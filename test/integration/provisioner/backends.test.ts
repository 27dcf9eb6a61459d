/**
 * The provisioner over real layer dirs (fixture images extracted in overlay form) with each backend: the
 * merged view applies whiteouts and opaque dirs and keeps modes, owners and hard links; writes land in the
 * writable dir; destroy and failed provisions leave no mount, no dir and no lease. Needs root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MesosProvisioner, type Provisioned } from '../../../pkg/mesos/provisioner/index.js';
import { mount, unmount } from '../../../pkg/sys/index.js';
import { configureLogging, isKind } from '../../../pkg/util/index.js';
import { LayerSource, mountsBelow } from './layer-source.js';

configureLogging({ silent: true });

let src: LayerSource;
let tmp: string;
let layered: string;
let single: string;

before(async () => {
  assert.equal(process.getuid?.(), 0, 'provisioner tests need root (mounts, owners, devices)');
  src = await LayerSource.create();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-prov-'));
  layered = await src.addFixture('busybox-layers');
  single = await src.addFixture('busybox');
});

after(async () => {
  for (const m of (await mountsBelow(tmp)).reverse()) await unmount(m, { lazy: true });
  await fs.rm(tmp, { recursive: true, force: true });
  await src?.cleanup();
});

let n = 0;
function newProvisioner(backend: string, workDir = path.join(tmp, `work-${n++}`)): MesosProvisioner {
  return new MesosProvisioner({ workDir, source: src, backend, usageCacheMs: 0 });
}

function workDirOf(p: Provisioned): string {
  // <work>/provisioner/containers/<id>/backends/<b>/rootfses/<rid>
  return path.resolve(p.rootfs, '../../../../../../..');
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}

/** What busybox-layers looks like once its layers are stacked (hack/images LAYERS_DESCRIPTION). */
async function checkLayeredView(root: string): Promise<void> {
  const at = (p: string) => path.join(root, p);
  assert.equal(await exists(at('data/remove-me.txt')), false, 'whiteout hides the file');
  assert.equal(await exists(at('data/dir-removed')), false, 'whiteout hides the dir');
  assert.deepEqual(await fs.readdir(at('data/opaque')), ['new.txt'], 'opaque dir shows only its own layer');
  assert.equal(await fs.readFile(at('data/replaced.txt'), 'utf8'), 'v2\n');
  assert.equal(await fs.readFile(at('data/keep.txt'), 'utf8'), 'kept\n');
  assert.equal(await fs.readFile(at('data/layer4.txt'), 'utf8'), 'uncompressed layer\n');
  const src1 = await fs.lstat(at('data/hardlink-src.txt'));
  const dst = await fs.lstat(at('data/hardlink-dst.txt'));
  assert.equal(dst.nlink, 2, 'hard link count kept');
  assert.equal(dst.ino, src1.ino, 'one inode for both names');
  assert.equal((await fs.lstat(at('bin/setuid-file'))).mode & 0o7777, 0o4755, 'setuid bit kept');
  assert.equal(await fs.readlink(at('data/link-rel')), 'keep.txt');
  assert.equal(await fs.readlink(at('data/link-abs')), '/data/keep.txt');
  const owned = await fs.lstat(at('data/owned'));
  assert.deepEqual([owned.uid, owned.gid, owned.mode & 0o7777], [1002, 1003, 0o750]);
  assert.ok((await fs.lstat(at('bin/busybox'))).isFile(), 'base layer visible');
}

async function checkGone(p: MesosProvisioner, id: string, prov: Provisioned): Promise<void> {
  const dir = path.join(workDirOf(prov), 'provisioner', 'containers', id);
  assert.deepEqual(await mountsBelow(dir), [], 'no mount left');
  assert.equal(await exists(dir), false, 'no dir left');
  assert.equal(src.leases.has(id), false, 'lease released');
  assert.equal(await p.get(id), undefined);
}

describe('provisioner backends', () => {
  for (const backend of ['overlay', 'copy'] as const) {
    it(`${backend}: merged view, writes go to the writable dir, destroy leaves nothing`, async () => {
      const p = newProvisioner(backend);
      const id = `ctr-${backend}`;
      const prov = await p.provision(id, layered, { readonlyRootfs: false });
      assert.equal(prov.backend, backend);
      assert.equal(prov.image.imageId, layered);
      assert.equal(prov.image.layerDirs.length, 4);
      assert.equal(src.leases.get(id), layered, 'image retained');
      assert.deepEqual(src.calls.filter((c) => c.endsWith(` ${id}`)).slice(0, 1), [`retain ${id}`]);
      await checkLayeredView(prov.rootfs);
      const mounted = (await mountsBelow(workDirOf(prov))).includes(prov.rootfs);
      assert.equal(mounted, backend === 'overlay');
      if (backend === 'copy') {
        const xattrs = execFileSync('getfattr', ['-R', '-P', '-h', '-m', '^trusted\\.overlay\\.', '-d', prov.rootfs]);
        assert.equal(xattrs.toString(), '', 'no overlay marks left in a copied rootfs');
      }

      assert.ok(prov.writableDir);
      await fs.writeFile(path.join(prov.rootfs, 'data', 'written.txt'), 'hello');
      assert.equal(await fs.readFile(path.join(prov.writableDir, 'data', 'written.txt'), 'utf8'), 'hello');
      await fs.rm(path.join(prov.rootfs, 'data', 'keep.txt'));
      const u = await p.usage(id);
      assert.ok(u.bytes > 0 && u.inodes > 0, JSON.stringify(u));
      assert.equal(u.mountpoint, prov.writableDir);
      assert.deepEqual(await p.get(id), prov);

      await assert.rejects(p.provision(id, layered, { readonlyRootfs: false }), (e: unknown) =>
        isKind(e, 'AlreadyExists'),
      );
      await p.destroy(id);
      await checkGone(p, id, prov);
      await p.destroy(id);
      await assert.rejects(p.usage(id), (e: unknown) => isKind(e, 'NotFound'));
    });
  }

  it('overlay: a single-layer image is writable too', async () => {
    const p = newProvisioner('overlay');
    const prov = await p.provision('single', single, { readonlyRootfs: true });
    assert.equal(prov.backend, 'overlay');
    await fs.writeFile(path.join(prov.rootfs, 'tmp', 'x'), 'x');
    assert.ok(prov.writableDir && (await exists(path.join(prov.writableDir, 'tmp', 'x'))));
    await p.destroy('single');
    await checkGone(p, 'single', prov);
  });

  it('bind: read-only single layer; multi-layer images refused and nothing left', async () => {
    const p = newProvisioner('bind');
    const prov = await p.provision('ro', single, { readonlyRootfs: true });
    assert.equal(prov.backend, 'bind');
    assert.equal(prov.writableDir, undefined);
    assert.equal(await fs.readFile(path.join(prov.rootfs, 'etc', 'hostname'), 'utf8'), 'fixture\n');
    await assert.rejects(fs.writeFile(path.join(prov.rootfs, 'tmp', 'x'), 'x'), { code: 'EROFS' });
    assert.deepEqual(await p.usage('ro'), { bytes: 0, inodes: 0, mountpoint: prov.rootfs });
    await p.destroy('ro');
    await checkGone(p, 'ro', prov);
    assert.ok(await exists(path.join(src.dir, 'layers')), 'the store layer survives');
    assert.equal(
      await fs.readFile(path.join(prov.image.layerDirs[0] as string, 'etc', 'hostname'), 'utf8'),
      'fixture\n',
    );

    await assert.rejects(p.provision('multi', layered, { readonlyRootfs: true }), (e: unknown) => {
      assert.ok(isKind(e, 'FailedPrecondition'), String(e));
      assert.match((e as Error).message, /single-layer.*4 layers/);
      return true;
    });
    assert.deepEqual(await fs.readdir(path.join(workDirOf(prov), 'provisioner', 'containers')), []);
    assert.equal(src.leases.has('multi'), false);
  });

  it('auto: bind for read-only single layer, else overlay; copy where overlay cannot be used', async () => {
    const p = newProvisioner('auto');
    const a = await p.provision('a1', single, { readonlyRootfs: true });
    const b = await p.provision('a2', single, { readonlyRootfs: false });
    const c = await p.provision('a3', layered, { readonlyRootfs: true });
    assert.deepEqual([a.backend, b.backend, c.backend], ['bind', 'overlay', 'overlay']);
    assert.equal((await p.get('a1'))?.backend, 'bind', 'the choice is remembered');
    for (const id of ['a1', 'a2', 'a3']) await p.destroy(id);
    assert.deepEqual(await mountsBelow(workDirOf(a)), []);

    // A work dir on overlayfs cannot hold upper dirs: auto falls back to copy.
    const base = path.join(tmp, `ovl-host-${n++}`);
    for (const d of ['lower', 'upper', 'work', 'merged']) await fs.mkdir(path.join(base, d), { recursive: true });
    const merged = path.join(base, 'merged');
    await mount('overlay', merged, {
      fsType: 'overlay',
      options: [`lowerdir=${base}/lower`, `upperdir=${base}/upper`, `workdir=${base}/work`],
    });
    try {
      const q = newProvisioner('auto', path.join(merged, 'work'));
      const support = await q.overlaySupport();
      assert.equal(support.supported, false);
      assert.match(support.reason, /is on overlay/);
      const d = await q.provision('a4', layered, { readonlyRootfs: false });
      assert.equal(d.backend, 'copy');
      await checkLayeredView(d.rootfs);
      await q.destroy('a4');
      assert.deepEqual(await fs.readdir(path.join(merged, 'work', 'provisioner')), ['containers']);

      // Asked for explicitly, overlay fails there at the mount, after its dirs were made: all undone.
      const r = newProvisioner('overlay', path.join(merged, 'work2'));
      await assert.rejects(r.provision('a5', single, { readonlyRootfs: false }), (e: unknown) => {
        assert.ok(isKind(e, 'Internal'), String(e));
        assert.match((e as Error).message, /overlay mount of the rootfs of container "a5" failed/);
        return true;
      });
      assert.deepEqual(await fs.readdir(path.join(merged, 'work2', 'provisioner', 'containers')), []);
      assert.deepEqual(await mountsBelow(path.join(merged, 'work2')), []);
      assert.equal(src.leases.has('a5'), false);
    } finally {
      await unmount(merged);
    }
  });

  it('rejects aufs and unknown backends clearly', () => {
    assert.throws(
      () => newProvisioner('aufs'),
      (e: unknown) => isKind(e, 'FailedPrecondition') && /aufs is not in modern kernels/.test((e as Error).message),
    );
    assert.throws(
      () => newProvisioner('zfs'),
      (e: unknown) => isKind(e, 'InvalidArgument') && /"zfs"/.test((e as Error).message),
    );
  });

  it('a failed provision leaves nothing: unknown image, missing layer, aborted request', async () => {
    const p = newProvisioner('overlay');
    await assert.rejects(p.provision('f1', 'sha256:nope', { readonlyRootfs: false }), (e: unknown) =>
      isKind(e, 'NotFound'),
    );
    src.add('sha256:broken', [path.join(src.dir, 'layers', 'no-such-layer')]);
    await assert.rejects(p.provision('f2', 'sha256:broken', { readonlyRootfs: false }), (e: unknown) =>
      isKind(e, 'FailedPrecondition'),
    );
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(p.provision('f3', layered, { readonlyRootfs: false, signal: ac.signal }), (e: unknown) =>
      isKind(e, 'Cancelled'),
    );
    for (const id of ['f1', 'f2', 'f3']) {
      assert.equal(await p.get(id), undefined);
      assert.equal(src.leases.has(id), false, `lease of ${id} released`);
    }
    assert.deepEqual(await fs.readdir(path.join(tmp, `work-${n - 1}`, 'provisioner', 'containers')), []);

    // Half-way: the copy runs out of space on a small work dir in the middle of the first layer.
    const small = path.join(tmp, `work-${n++}`);
    await fs.mkdir(small);
    await mount('tmpfs', small, { fsType: 'tmpfs', options: ['size=512k'] });
    try {
      const q = newProvisioner('copy', small);
      await assert.rejects(q.provision('f4', layered, { readonlyRootfs: false }), (e: unknown) => {
        assert.match((e as Error).message, /copying layer/);
        return true;
      });
      assert.deepEqual(await fs.readdir(path.join(small, 'provisioner', 'containers')), []);
      assert.equal(src.leases.has('f4'), false);
      // With deferSync the record is renamed while the rootfs is built: a failed build removes it too.
      await assert.rejects(q.provision('f5', layered, { readonlyRootfs: false, deferSync: true }), (e: unknown) => {
        assert.match((e as Error).message, /copying layer/);
        return true;
      });
      assert.deepEqual(await fs.readdir(path.join(small, 'provisioner', 'containers')), []);
      assert.equal(await q.get('f5'), undefined);
      assert.equal(src.leases.has('f5'), false);
    } finally {
      await unmount(small);
    }
    await assert.rejects(p.provision('../x', layered, { readonlyRootfs: false }), (e: unknown) =>
      isKind(e, 'InvalidArgument'),
    );
  });

  it('usage answers from its cache for a while', async () => {
    const p = new MesosProvisioner({
      workDir: path.join(tmp, `work-${n++}`),
      source: src,
      usageCacheMs: 3_600_000,
    });
    const prov = await p.provision('u1', layered, { readonlyRootfs: false });
    const first = await p.usage('u1');
    await fs.writeFile(path.join(prov.rootfs, 'big'), Buffer.alloc(1 << 20, 1));
    assert.deepEqual(await p.usage('u1'), first);
    await p.destroy('u1');
    await checkGone(p, 'u1', prov);
  });

  it('keeps container dirs in containerStoreDir and measures writable layers in the background', async () => {
    const store = path.join(tmp, `store-${n++}`);
    const p = new MesosProvisioner({ workDir: path.join(tmp, `work-${n++}`), containerStoreDir: store, source: src });
    const prov = await p.provision('w1', layered, { readonlyRootfs: false });
    assert.ok(prov.rootfs.startsWith(`${store}/w1/`) && prov.writableDir?.startsWith(`${store}/w1/`));

    // While watching, usage() answers from the passes: a call does not walk the layer again.
    let stop = p.watchUsage(3_600_000, async () => {});
    const first = await p.usage('w1');
    await fs.writeFile(path.join(prov.rootfs, 'big'), Buffer.alloc(1 << 20, 1));
    assert.deepEqual(await p.usage('w1'), first);
    stop();

    // A pass measures it and hands the figures over. The watcher's timer does not hold the process open
    // (the daemon's server does): this one does, while the test waits.
    const keepAlive = setInterval(() => {}, 1000);
    const seen = await new Promise<{ bytes: number; inodes: number }>((resolve) => {
      stop = p.watchUsage(10, async (figures) => {
        const f = figures.get('w1');
        if (f && f.bytes >= 1 << 20) resolve(f);
      });
    });
    clearInterval(keepAlive);
    stop();
    assert.deepEqual(await p.usage('w1'), { ...seen, mountpoint: prov.writableDir });
    const total = await p.storeUsage();
    assert.equal(total.mountpoint, store);
    assert.equal(total.bytes, seen.bytes);
    await p.destroy('w1');
    await checkGone(p, 'w1', prov);
    assert.deepEqual(await fs.readdir(store), []);
  });

  it('overlay with many layers at long paths mounts through short links', async () => {
    const dirs: string[] = [];
    for (let i = 0; i < 40; i++) {
      const d = path.join(tmp, 'long', `${'l'.repeat(120)}-${i}`);
      await fs.mkdir(d, { recursive: true });
      await fs.writeFile(path.join(d, `f${i}`), String(i));
      await fs.writeFile(path.join(d, 'top'), String(i));
      dirs.push(d);
    }
    src.add('sha256:many', dirs);
    assert.ok(dirs.join(':').length > 4096, 'the direct option string would not fit');
    const p = newProvisioner('overlay');
    const prov = await p.provision('many', 'sha256:many', { readonlyRootfs: false });
    assert.equal(await fs.readFile(path.join(prov.rootfs, 'top'), 'utf8'), '39', 'the last layer is on top');
    assert.equal(await fs.readFile(path.join(prov.rootfs, 'f0'), 'utf8'), '0');
    const scratch = path.dirname(prov.writableDir as string);
    assert.deepEqual((await fs.readdir(scratch)).sort(), ['upper', 'work'], 'no link dir left after the mount');
    await p.destroy('many');
    await checkGone(p, 'many', prov);
  });

  it('overlay dirs made one level at a time keep their modes; a leftover dir is replaced, a recorded id refused', async () => {
    const workDir = path.join(tmp, `work-${n++}`);
    const p = newProvisioner('overlay', workDir);
    const mode = async (q: string) => (await fs.stat(q)).mode & 0o777;
    const prov = await p.provision('modes', single, { readonlyRootfs: false, deferMount: true });
    const containerDir = path.join(workDir, 'provisioner', 'containers', 'modes');
    const backendDir = path.join(containerDir, 'backends', 'overlay');
    const scratch = path.dirname(prov.writableDir!);
    // What the recursive mkdirs of before made (0700 down to rootfses, 0755 from the scratch dirs on, the
    // work dir 0700), under the usual umask.
    const umask = process.umask();
    const want = (m: number) => m & ~umask;
    for (const d of [containerDir, path.dirname(backendDir), backendDir, path.dirname(prov.rootfs)]) {
      assert.equal(await mode(d), want(0o700), d);
    }
    for (const d of [prov.rootfs, path.dirname(scratch), scratch, prov.writableDir!]) {
      assert.equal(await mode(d), want(0o755), d);
    }
    assert.equal(await mode(path.join(scratch, 'work')), want(0o700));
    await p.mount('modes');
    assert.ok((await fs.lstat(path.join(prov.rootfs, 'bin', 'busybox'))).isFile(), 'the image is visible');
    assert.deepEqual(await mountsBelow(workDir), [prov.rootfs]);

    // A dir without a record (an interrupted provision before a restart) is removed and made again.
    const left = path.join(workDir, 'provisioner', 'containers', 'left');
    await fs.mkdir(path.join(left, 'backends', 'overlay', 'rootfses', 'deadbeefdeadbeef'), { recursive: true });
    const fresh = newProvisioner('overlay', workDir);
    const again = await fresh.provision('left', single, { readonlyRootfs: false, deferMount: true });
    assert.deepEqual(await fs.readdir(path.join(left, 'backends', 'overlay', 'rootfses')), [
      path.basename(again.rootfs),
    ]);
    // A recorded id is refused by a provisioner that has not read its record yet, and left as it is.
    await assert.rejects(fresh.provision('modes', single, { readonlyRootfs: false }), (e: unknown) =>
      isKind(e, 'AlreadyExists'),
    );
    assert.deepEqual(await mountsBelow(workDir), [prov.rootfs], 'the refused id keeps its mounted rootfs');
    await fresh.destroy('modes');
    await fresh.destroy('left');
    await checkGone(fresh, 'modes', prov);
    await checkGone(fresh, 'left', again);
  });

  it('overlay with spares: a provision moves dirs made ahead into place, with their modes; recover removes spares', async () => {
    const workDir = path.join(tmp, `work-${n++}`);
    const p = new MesosProvisioner({ workDir, source: src, backend: 'overlay', usageCacheMs: 0, spares: 2 });
    const store = path.join(workDir, 'provisioner', 'containers');
    const spares = async () => (await fs.readdir(store)).filter((x) => x.startsWith('.spare-')).sort();
    // Complete spares (their last dir, work, made), once `count` of them are there (or after 10 s).
    const untilSpares = async (count: number) => {
      const complete = async () => {
        const out: string[] = [];
        for (const x of await spares()) {
          const id = x.slice('.spare-'.length);
          if (await exists(path.join(store, x, 'backends', 'overlay', 'scratch', id, 'work'))) out.push(x);
        }
        return out;
      };
      for (let i = 0; i < 200 && (await complete()).length < count; i++) await delay(50);
      await delay(50); // the pool takes a spare as ready right after its last dir
      return complete();
    };
    const umask = process.umask();
    const mode = async (q: string) => (await fs.stat(q)).mode & 0o777;
    const checkModes = async (prov: Provisioned) => {
      const scratch = path.dirname(prov.writableDir!);
      const rootfses = path.dirname(prov.rootfs);
      for (const d of [path.dirname(path.dirname(rootfses)), path.dirname(rootfses), rootfses]) {
        assert.equal(await mode(d), 0o700 & ~umask, d);
      }
      for (const d of [prov.rootfs, path.dirname(scratch), scratch, prov.writableDir!]) {
        assert.equal(await mode(d), 0o755 & ~umask, d);
      }
      assert.equal(await mode(path.join(scratch, 'work')), 0o700 & ~umask);
    };

    // The first provision finds none and makes its dirs; two spares are made after it.
    const first = await p.provision('sp-first', single, { readonlyRootfs: false, deferMount: true });
    const made = await untilSpares(2);
    assert.equal(made.length, 2, 'two spares made in the background');
    assert.ok(!made.includes(`.spare-${path.basename(first.rootfs)}`));

    // The next provision takes one: its rootfs id is the spare's, the spare is gone, the tree is complete.
    const second = await p.provision('sp-second', layered, { readonlyRootfs: false, deferMount: true });
    const rootfsId = path.basename(second.rootfs);
    assert.ok(made.includes(`.spare-${rootfsId}`), `${rootfsId} came from a spare`);
    assert.equal(second.rootfs, path.join(store, 'sp-second', 'backends', 'overlay', 'rootfses', rootfsId));
    assert.equal(
      second.writableDir,
      path.join(store, 'sp-second', 'backends', 'overlay', 'scratch', rootfsId, 'upper'),
    );
    assert.ok(!(await spares()).includes(`.spare-${rootfsId}`));
    await checkModes(second);
    // The container's own dir is the spare's root: no mkdir of it on the provision's path.
    assert.equal(await mode(path.join(store, 'sp-second')), 0o700 & ~umask);
    assert.deepEqual(await mountsBelow(workDir), [], 'a deferred overlay is not mounted by provision');
    await p.mount('sp-second');
    await checkLayeredView(second.rootfs);
    await fs.writeFile(path.join(second.rootfs, 'data', 'written.txt'), 'w');
    assert.equal(await fs.readFile(path.join(second.writableDir!, 'data', 'written.txt'), 'utf8'), 'w');

    // Mounted at provision (no deferMount) from a spare as well.
    const ready = await untilSpares(2);
    const third = await p.provision('sp-third', single, { readonlyRootfs: false });
    assert.ok(ready.includes(`.spare-${path.basename(third.rootfs)}`), 'the third rootfs came from a spare');
    await checkModes(third);
    assert.ok((await mountsBelow(workDir)).includes(third.rootfs), 'mounted at provision');

    // A dir an interrupted provision left (no record): the spare is not moved over it and stays ready; the
    // provision clears the dir and makes its own.
    const before = await untilSpares(2);
    await fs.mkdir(path.join(store, 'sp-left', 'junk'), { recursive: true });
    const left = await p.provision('sp-left', single, { readonlyRootfs: false, deferMount: true });
    assert.ok(!before.includes(`.spare-${path.basename(left.rootfs)}`), 'made anew beside a leftover dir');
    assert.deepEqual(await spares(), before, 'the spares stayed');
    assert.ok(!(await exists(path.join(store, 'sp-left', 'junk'))), 'the leftover cleared');
    await checkModes(left);

    // A spare that vanished: the provision makes its own dirs.
    await untilSpares(2);
    const removed = await spares();
    for (const x of removed) await fs.rm(path.join(store, x), { recursive: true });
    const fourth = await p.provision('sp-fourth', single, { readonlyRootfs: false, deferMount: true });
    assert.ok(!removed.includes(`.spare-${path.basename(fourth.rootfs)}`), 'made anew');
    await checkModes(fourth);
    await p.close();
    assert.deepEqual(await spares(), [], 'a clean close removes the spares');

    // After a restart: spares on disk, and one half-made when the daemon died, are removed; kept rootfses stay.
    await fs.mkdir(path.join(store, '.spare-0123456789abcdef', 'overlay', 'rootfses'), { recursive: true });
    const restarted = new MesosProvisioner({ workDir, source: src, backend: 'overlay', usageCacheMs: 0, spares: 2 });
    await restarted.recover(['sp-first', 'sp-second', 'sp-third', 'sp-fourth'], {
      unmounted: ['sp-first', 'sp-fourth'],
    });
    assert.deepEqual(await spares(), [], 'recovery removed the spares');
    assert.deepEqual((await fs.readdir(store)).sort(), ['sp-first', 'sp-fourth', 'sp-second', 'sp-third']);
    await checkLayeredView(second.rootfs);
    for (const [id, prov] of [
      ['sp-first', first],
      ['sp-second', second],
      ['sp-third', third],
      ['sp-fourth', fourth],
    ] as const) {
      await restarted.destroy(id);
      await checkGone(restarted, id, prov);
    }
    await restarted.close();
  });

  it('overlay with deferMount: dirs only until mount; recover leaves an unmounted one so; destroy unmounts', async () => {
    const workDir = path.join(tmp, `work-${n++}`);
    const p = newProvisioner('overlay', workDir);
    const prov = await p.provision('lazy', layered, { readonlyRootfs: false, deferMount: true });
    assert.deepEqual(await mountsBelow(workDir), [], 'not mounted by provision');
    assert.ok(await exists(prov.rootfs), 'the mount point is there');
    assert.ok(prov.writableDir && (await exists(prov.writableDir)), 'the writable dir is there');
    assert.equal(src.leases.get('lazy'), layered, 'the lease is taken at provision');
    await p.mount('lazy');
    assert.deepEqual(await mountsBelow(workDir), [prov.rootfs]);
    await checkLayeredView(prov.rootfs);
    await p.mount('lazy');
    assert.deepEqual(await mountsBelow(workDir), [prov.rootfs], 'mount is idempotent');

    // After a restart: a created container's rootfs is left unmounted; its start mounts it.
    await unmount(prov.rootfs);
    const restarted = newProvisioner('overlay', workDir);
    await restarted.recover(['lazy'], { unmounted: ['lazy'] });
    assert.deepEqual(await mountsBelow(workDir), [], 'recover leaves the rootfs of an unstarted container alone');
    await restarted.mount('lazy');
    await restarted.mount('lazy');
    assert.deepEqual(await mountsBelow(workDir), [prov.rootfs], 'mounted once, from the mount table');
    await checkLayeredView(prov.rootfs);
    await restarted.destroy('lazy');
    await checkGone(restarted, 'lazy', prov);
    await assert.rejects(restarted.mount('lazy'), (e: unknown) => isKind(e, 'NotFound'));

    // An unmounted rootfs of an id recovery does not keep is removed like any other.
    const orphan = await p.provision('lazy-orphan', single, { readonlyRootfs: false, deferMount: true });
    const again = newProvisioner('overlay', workDir);
    await again.recover([]);
    await checkGone(again, 'lazy-orphan', orphan);
  });

  it('a backend that mounts at provision waits for the intent; copy and a deferred overlay do not', async () => {
    // [backend, image, deferMount, waits for the intent]
    const cases = [
      ['overlay', layered, false, true],
      ['bind', single, false, true],
      ['copy', layered, false, false],
      ['overlay', layered, true, false],
    ] as const;
    for (const [backend, image, deferMount, waits] of cases) {
      const p = newProvisioner(backend);
      const id = `intent-${backend}-${deferMount}`;
      let writeIntent!: () => void;
      const intent = new Promise<void>((resolve) => (writeIntent = resolve));
      let done = false;
      const provision = p
        .provision(id, image, { readonlyRootfs: backend === 'bind', deferMount, intent })
        .finally(() => (done = true));
      // Long enough for any backend to finish here (the layers are local), were it not waiting.
      const settled = await Promise.race([provision.then(() => true), delay(3000).then(() => false)]);
      const what = `${backend}${deferMount ? ' (deferMount)' : ''}`;
      if (waits) {
        assert.equal(settled, false, `${what}: provisioned before the intent was written`);
        assert.equal(done, false);
        const workDir = path.join(tmp, `work-${n - 1}`);
        assert.deepEqual(await mountsBelow(workDir), [], `${what}: mounted before the intent was written`);
      } else {
        assert.equal(settled, true, `${what}: waited for an intent it does not need`);
      }
      writeIntent();
      const prov = await provision;
      await p.destroy(id);
      await checkGone(p, id, prov);
    }
  });

  it('recover re-mounts a known overlay, keeps a copy, destroys orphans and unfinished provisions', async () => {
    const workDir = path.join(tmp, `work-${n++}`);
    const p = newProvisioner('overlay', workDir);
    const known = await p.provision('known', layered, { readonlyRootfs: false });
    const kept = await newProvisioner('copy', workDir).provision('kept', layered, { readonlyRootfs: false });
    const orphan = await p.provision('orphan', single, { readonlyRootfs: false });
    await fs.writeFile(path.join(known.rootfs, 'data', 'mine.txt'), 'survives');
    await fs.mkdir(path.join(workDir, 'provisioner', 'containers', 'unfinished', 'backends'), { recursive: true });
    // A record pointing outside its own dir is not trusted (and nothing outside is touched).
    const victim = path.join(tmp, `victim-${n++}`);
    await fs.mkdir(victim);
    const forged = JSON.parse(
      await fs.readFile(path.join(workDir, 'provisioner/containers/known/record.json'), 'utf8'),
    );
    await fs.mkdir(path.join(workDir, 'provisioner', 'containers', 'forged'));
    await fs.writeFile(
      path.join(workDir, 'provisioner', 'containers', 'forged', 'record.json'),
      JSON.stringify({ ...forged, containerId: 'forged', rootfs: victim }),
    );
    // A reboot: the mounts are gone, the dirs stay.
    await unmount(known.rootfs);
    await unmount(orphan.rootfs);
    assert.deepEqual(await mountsBelow(workDir), []);

    const restarted = newProvisioner('overlay', workDir);
    await restarted.recover(['known', 'kept', 'unfinished', 'forged']);
    assert.ok(await exists(victim));
    assert.deepEqual(await mountsBelow(workDir), [known.rootfs], 'only the known overlay is mounted');
    assert.equal(await fs.readFile(path.join(known.rootfs, 'data', 'mine.txt'), 'utf8'), 'survives');
    await checkLayeredView(known.rootfs);
    assert.deepEqual(await restarted.get('known'), known);
    assert.deepEqual(await restarted.get('kept'), kept, 'the backend choice survives a restart');
    await checkGone(restarted, 'orphan', orphan);
    assert.deepEqual((await fs.readdir(path.join(workDir, 'provisioner', 'containers'))).sort(), ['kept', 'known']);
    assert.equal(src.leases.get('known'), layered);

    await restarted.recover(['known', 'kept']);
    assert.deepEqual(await mountsBelow(workDir), [known.rootfs], 'recovering twice mounts nothing twice');
    await restarted.destroy('known');
    await restarted.destroy('kept');
    await checkGone(restarted, 'known', known);
    await checkGone(restarted, 'kept', kept);
  });
});
