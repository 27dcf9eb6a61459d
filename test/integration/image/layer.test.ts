import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { type ApplyResult, applyLayer, type LayerFormat } from '../../../pkg/image/index.js';
import { configureLogging, isKind } from '../../../pkg/util/index.js';
import {
  escapeSandbox,
  type FixtureEntry,
  getXattr,
  gzip,
  packTar,
  rawTar,
  zstd,
} from '../../unit/image/tar-fixtures.js';

configureLogging({ silent: true });

let tmp: string;
before(async () => {
  assert.equal(process.getuid?.(), 0, 'layer tests need root (owners, devices, trusted xattrs)');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-layer-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

let n = 0;
/** A fresh target dir plus a sibling "outside" dir with a victim file, for escape tests. */
const sandbox = () => escapeSandbox(path.join(tmp, `case-${n++}`));

function apply(tar: Buffer, root: string, format: LayerFormat = 'plain'): Promise<ApplyResult> {
  return applyLayer(Readable.from([tar]), root, { format });
}

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  }
  return out.sort();
}

async function assertOutsideUntouched(outside: string): Promise<void> {
  assert.deepEqual(await listTree(outside), ['victim']);
  assert.equal(await fs.readFile(path.join(outside, 'victim'), 'utf8'), 'original');
  const st = await fs.stat(path.join(outside, 'victim'));
  assert.equal(st.nlink, 1);
  assert.equal(st.mode & 0o7777, 0o644);
}

const T = new Date('2020-01-02T03:04:05Z');
const T2 = new Date('2019-05-06T07:08:09Z');

describe('applyLayer: fidelity', () => {
  it('keeps modes, owners, mtimes, symlinks, hardlinks, devices and fifos', async () => {
    const { root } = await sandbox();
    const tar = await packTar([
      { name: 'bin/', type: 'directory', mode: 0o755, mtime: T2 },
      { name: 'bin/su', content: 'suid', mode: 0o4755, uid: 0, gid: 0, mtime: T },
      { name: 'bin/wall', content: 'sgid', mode: 0o2711, uid: 0, gid: 5, mtime: T },
      { name: 'tmp/', type: 'directory', mode: 0o1777, mtime: T2 },
      { name: 'home/u/', type: 'directory', mode: 0o2750, uid: 1002, gid: 1003, mtime: T2 },
      { name: 'home/u/f', content: 'hello', mode: 0o640, uid: 1002, gid: 1003, mtime: T },
      { name: 'home/u/link', type: 'symlink', linkname: '../../bin/su', uid: 1002, gid: 1003, mtime: T },
      { name: 'home/u/hard', type: 'link', linkname: 'home/u/f' },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666, mtime: T },
      { name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660, gid: 6, mtime: T },
      { name: 'run/fifo', type: 'fifo', mode: 0o600, mtime: T },
    ]);
    const result = await apply(tar, root);
    assert.equal(result.diffId, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
    assert.equal(result.size, tar.length);
    assert.equal(result.compression, 'none');
    assert.equal(result.entries, 11);

    const st = (p: string) => fs.lstat(path.join(root, p));
    assert.equal((await st('bin/su')).mode & 0o7777, 0o4755);
    assert.equal((await st('bin/wall')).mode & 0o7777, 0o2711);
    assert.equal((await st('bin/wall')).gid, 5);
    assert.equal((await st('tmp')).mode & 0o7777, 0o1777);
    const home = await st('home/u');
    assert.deepEqual([home.mode & 0o7777, home.uid, home.gid], [0o2750, 1002, 1003]);
    assert.equal(home.mtimeMs, T2.getTime(), 'directory mtime is set after its contents');
    assert.equal((await st('bin')).mtimeMs, T2.getTime());
    const f = await st('home/u/f');
    assert.deepEqual([f.mode & 0o7777, f.uid, f.gid, f.mtimeMs, f.nlink], [0o640, 1002, 1003, T.getTime(), 2]);
    assert.equal(await fs.readFile(path.join(root, 'home/u/f'), 'utf8'), 'hello');
    assert.equal((await st('home/u/hard')).ino, f.ino);
    const link = await st('home/u/link');
    assert.ok(link.isSymbolicLink());
    assert.equal(await fs.readlink(path.join(root, 'home/u/link')), '../../bin/su');
    assert.deepEqual([link.uid, link.gid, link.mtimeMs], [1002, 1003, T.getTime()]);
    const nul = await st('dev/null');
    assert.ok(nul.isCharacterDevice());
    assert.equal(nul.rdev, (1 << 8) | 3);
    assert.equal(nul.mode & 0o7777, 0o666);
    const loop = await st('dev/loop0');
    assert.ok(loop.isBlockDevice());
    assert.equal(loop.rdev, 7 << 8);
    assert.equal(loop.gid, 6);
    assert.ok((await st('run/fifo')).isFIFO());
  });

  it('sets xattrs from PAX headers byte for byte, file capabilities included, after chown', async () => {
    const { root } = await sandbox();
    // cap_setuid (bit 7) makes a 0x80 byte: not valid UTF-8, the case tar-stream alone would corrupt.
    const cap = Buffer.from([
      0x01, 0x00, 0x00, 0x02, 0x80, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    const tar = rawTar([
      {
        name: 'usr/bin/ping',
        content: 'ping',
        mode: 0o755,
        uid: 0,
        gid: 0,
        pax: { 'SCHILY.xattr.security.capability': cap, 'SCHILY.xattr.user.note': 'héllo' },
      },
      { name: 'etc/', type: 'directory', mode: 0o755, pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y' } },
    ]);
    await apply(tar, root);
    assert.deepEqual(getXattr(path.join(root, 'usr/bin/ping'), 'security.capability'), cap);
    assert.equal(getXattr(path.join(root, 'usr/bin/ping'), 'user.note')?.toString('utf8'), 'héllo');
    assert.equal(
      getXattr(path.join(root, 'etc'), 'trusted.overlay.opaque'),
      undefined,
      'layer may not set overlay xattrs',
    );
  });

  it('skips an xattr the filesystem does not support and names the first one in the result', async () => {
    // ramfs supports no xattrs at all (ENOTSUP): applyLayer goes on and reports it, for the caller to log.
    const { root } = await sandbox();
    execFileSync('mount', ['-t', 'ramfs', 'none', root]);
    try {
      const tar = rawTar([
        { name: 'a', content: 'a', pax: { 'SCHILY.xattr.user.first': '1' } },
        { name: 'b', content: 'b', pax: { 'SCHILY.xattr.user.second': '2' } },
      ]);
      const r = await apply(tar, root);
      assert.deepEqual(r.skippedXattr, { name: 'user.first', entry: 'a' });
      assert.equal(await fs.readFile(path.join(root, 'b'), 'utf8'), 'b');
      const plain = await sandbox();
      assert.equal((await apply(tar, plain.root)).skippedXattr, undefined, 'nothing skipped where xattrs work');
    } finally {
      execFileSync('umount', [root]);
    }
  });

  for (const [label, wrap] of [
    ['plain', (b: Buffer) => b],
    ['gzip', gzip],
    ['zstd', zstd],
  ] as const) {
    it(`reads ${label} layers and reports the uncompressed diff id`, async () => {
      const { root } = await sandbox();
      const tar = await packTar([{ name: 'a/b.txt', content: 'x'.repeat(100_000) }]);
      const result = await apply(wrap(tar), root);
      assert.equal(result.compression, label === 'plain' ? 'none' : label);
      assert.equal(result.diffId, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
      assert.equal((await fs.readFile(path.join(root, 'a/b.txt'))).length, 100_000);
    });
  }

  it('reads a gzip layer that arrives in small chunks, over several of the inflater input batches', async () => {
    const { root } = await sandbox();
    // Noise does not compress: the gzip is ~3 MiB, three 1 MiB batches and a shorter last one.
    const noise = randomBytes(3 * 1024 * 1024 + 12_345);
    const tar = await packTar([
      { name: 'big', content: noise },
      { name: 'small', content: 'after the big one' },
    ]);
    const gz = gzip(tar);
    const chunks: Buffer[] = [];
    for (let off = 0; off < gz.length; off += 7_000) chunks.push(gz.subarray(off, off + 7_000));
    const result = await applyLayer(Readable.from(chunks), root, { format: 'plain' });
    assert.equal(result.compression, 'gzip');
    assert.equal(result.diffId, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
    assert.deepEqual(await fs.readFile(path.join(root, 'big')), noise);
    assert.equal(await fs.readFile(path.join(root, 'small'), 'utf8'), 'after the big one');
  });

  it('fails on a diff id mismatch and on corrupt compressed data', async () => {
    const { root } = await sandbox();
    const tar = await packTar([{ name: 'f', content: 'x' }]);
    const wrong = `sha256:${'0'.repeat(64)}`;
    await assert.rejects(applyLayer(Readable.from([tar]), root, { format: 'plain', diffId: wrong }), (err: Error) => {
      assert.equal((err as { code?: string }).code, 'DIGEST_MISMATCH');
      return true;
    });
    const gz = gzip(tar);
    gz[gz.length - 6] = (gz[gz.length - 6] ?? 0) ^ 0xff; // breaks the CRC
    await assert.rejects(apply(gz, root), (err) => isKind(err, 'InvalidArgument'));
    const zs = zstd(tar);
    await assert.rejects(apply(zs.subarray(0, zs.length - 3), root), (err) => isKind(err, 'InvalidArgument'));
  });
});

describe('applyLayer: whiteouts', () => {
  async function lower(root: string): Promise<void> {
    await apply(
      await packTar([
        { name: 'etc/keep', content: 'k' },
        { name: 'etc/gone', content: 'g' },
        { name: 'etc/dir/x', content: 'x' },
        { name: 'opq/old1', content: '1' },
        { name: 'opq/sub/old2', content: '2' },
      ]),
      root,
    );
  }

  it("plain: .wh.<name> deletes, .wh..wh..opq empties the directory but keeps this layer's files", async () => {
    const { root } = await sandbox();
    await lower(root);
    await apply(
      await packTar([
        { name: 'etc/.wh.gone' },
        { name: 'etc/.wh.dir' },
        { name: 'opq/new-before', content: 'n' },
        { name: 'opq/.wh..wh..opq' },
        { name: 'opq/new-after', content: 'n' },
        { name: 'nowhere/.wh.missing' },
      ]),
      root,
    );
    assert.deepEqual(await listTree(path.join(root, 'etc')), ['keep']);
    assert.deepEqual(await listTree(path.join(root, 'opq')), ['new-after', 'new-before']);
  });

  it('overlay: .wh.<name> becomes a 0/0 char device, opaque becomes trusted.overlay.opaque=y', async () => {
    const { root } = await sandbox();
    await apply(
      await packTar([
        { name: 'etc/', type: 'directory', mode: 0o755 },
        { name: 'etc/.wh.gone', uid: 0, gid: 0 },
        { name: 'opq/.wh..wh..opq' },
        { name: 'opq/new', content: 'n' },
      ]),
      root,
      'overlay',
    );
    const wh = await fs.lstat(path.join(root, 'etc/gone'));
    assert.ok(wh.isCharacterDevice());
    assert.equal(wh.rdev, 0);
    assert.equal(getXattr(path.join(root, 'opq'), 'trusted.overlay.opaque')?.toString(), 'y');
    assert.deepEqual(await listTree(root), ['etc', 'etc/gone', 'opq', 'opq/new']);
  });
});

describe('applyLayer: never writes outside the target', () => {
  it('rejects names that climb above the root', async () => {
    const { root, outside } = await sandbox();
    for (const name of ['../outside/victim', 'a/../../outside/victim', './../x']) {
      const tar = await packTar([{ name, content: 'pwned' }]);
      await assert.rejects(apply(tar, root), (err) => isKind(err, 'InvalidArgument'), name);
    }
    await assertOutsideUntouched(outside);
  });

  it('rejects a hardlink whose target climbs above the root', async () => {
    const { root, outside } = await sandbox();
    const tar = await packTar([{ name: 'h', type: 'link', linkname: '../outside/victim' }]);
    await assert.rejects(apply(tar, root), (err) => isKind(err, 'InvalidArgument'));
    await assertOutsideUntouched(outside);
  });

  it('treats absolute names and absolute hardlink targets as relative to the root', async () => {
    const { root, outside } = await sandbox();
    const abs = path.join(outside, 'victim');
    await apply(await packTar([{ name: abs, content: 'pwned' }]), root);
    assert.equal(await fs.readFile(path.join(root, abs), 'utf8'), 'pwned');
    await assertOutsideUntouched(outside);
    const { root: root2 } = await sandbox();
    const tar = await packTar([{ name: 'h', type: 'link', linkname: abs }]);
    await assert.rejects(apply(tar, root2), (err) => isKind(err, 'InvalidArgument'));
    await assertOutsideUntouched(outside);
  });

  it('resolves symlinked directories inside the root, absolute or relative, like a chroot', async () => {
    const { root, outside } = await sandbox();
    const tar = await packTar([
      { name: 'abs', type: 'symlink', linkname: outside },
      { name: 'abs/victim', content: 'pwned' },
      { name: 'rel', type: 'symlink', linkname: '../../../../../../..' + outside },
      { name: 'rel/new', content: 'pwned' },
      { name: 'loop', type: 'symlink', linkname: 'loop/x' },
    ]);
    await apply(tar, root);
    assert.equal(await fs.readFile(path.join(root, outside, 'victim'), 'utf8'), 'pwned');
    assert.equal(await fs.readFile(path.join(root, outside, 'new'), 'utf8'), 'pwned');
    await assertOutsideUntouched(outside);
    await assert.rejects(apply(await packTar([{ name: 'loop/f', content: 'x' }]), root), (err) =>
      isKind(err, 'InvalidArgument'),
    );
  });

  it('replaces a symlink instead of writing through it (file, dir, device, hardlink over it)', async () => {
    const { root, outside } = await sandbox();
    const victim = path.join(outside, 'victim');
    const tar = await packTar([
      { name: 'f', type: 'symlink', linkname: victim },
      { name: 'f', content: 'pwned', mode: 0o777 },
      { name: 'd', type: 'symlink', linkname: outside },
      { name: 'd', type: 'directory', mode: 0o777 },
      { name: 'n', type: 'symlink', linkname: victim },
      { name: 'n', type: 'fifo', mode: 0o777 },
      { name: 's', type: 'symlink', linkname: victim },
      { name: 'hs', type: 'link', linkname: 's' },
    ]);
    await apply(tar, root);
    assert.equal(await fs.readFile(path.join(root, 'f'), 'utf8'), 'pwned');
    assert.ok((await fs.lstat(path.join(root, 'd'))).isDirectory());
    assert.ok((await fs.lstat(path.join(root, 'n'))).isFIFO());
    assert.ok((await fs.lstat(path.join(root, 'hs'))).isSymbolicLink(), 'a hardlink to a symlink is the symlink');
    await assertOutsideUntouched(outside);
    assert.equal((await fs.stat(outside)).mode & 0o777, 0o755);
  });

  it('confines a symlink planted by one layer and written through by the next', async () => {
    const { root, outside } = await sandbox();
    await apply(
      await packTar([
        { name: 'planted', type: 'symlink', linkname: outside },
        { name: 'planted-rel', type: 'symlink', linkname: '../outside' },
      ]),
      root,
    );
    await apply(
      await packTar([
        { name: 'planted/victim', content: 'pwned' },
        { name: 'planted-rel/victim', content: 'pwned' },
        { name: 'planted-rel/sub/', type: 'directory', mode: 0o700 },
        { name: 'hl', type: 'link', linkname: 'planted/victim' },
      ]),
      root,
    );
    await assertOutsideUntouched(outside);
    assert.equal(await fs.readFile(path.join(root, 'outside/victim'), 'utf8'), 'pwned');
    assert.equal(await fs.readFile(path.join(root, outside, 'victim'), 'utf8'), 'pwned');
    assert.equal((await fs.stat(path.join(root, 'hl'))).ino, (await fs.stat(path.join(root, outside, 'victim'))).ino);
  });

  it('confines whiteouts and opaque markers behind symlinks (plain format)', async () => {
    const { root, outside } = await sandbox();
    await apply(await packTar([{ name: 'p', type: 'symlink', linkname: outside }]), root);
    await apply(await packTar([{ name: 'p/.wh.victim' }, { name: 'p/.wh..wh..opq' }]), root);
    await assertOutsideUntouched(outside);
  });

  it('rejects unsupported entry types', async () => {
    const { root } = await sandbox();
    const tar = rawTar([{ name: 'f', content: 'x' }]);
    tar[156] = 'S'.charCodeAt(0); // GNU sparse
    let sum = 0;
    tar.write('        ', 148, 'latin1');
    for (const b of tar.subarray(0, 512)) sum += b;
    tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    await assert.rejects(apply(tar, root), (err) => isKind(err, 'InvalidArgument'));
  });
});

describe('applyLayer: speed', () => {
  it('applies a 50 MB layer of mixed files quickly', async () => {
    const { root } = await sandbox();
    const entries: FixtureEntry[] = [];
    const big = Buffer.alloc(1 << 20, 7);
    for (let i = 0; i < 40; i++) entries.push({ name: `big/${i}`, content: big });
    const small = Buffer.alloc(1000, 1);
    for (let i = 0; i < 2000; i++) entries.push({ name: `small/d${i % 50}/f${i}`, content: small });
    const plain = await packTar(entries);
    const tar = gzip(plain);
    const started = process.hrtime.bigint();
    await apply(tar, root);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    // Reported, not asserted: tests never depend on timings.
    process.stdout.write(
      `# applied ${(plain.length / 1e6).toFixed(1)} MB tar (gzip), 2040 files in ${ms.toFixed(0)} ms\n`,
    );
    assert.equal((await fs.readdir(path.join(root, 'small'))).length, 50);
  });
});
