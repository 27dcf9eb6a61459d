/**
 * Mount helpers against the real kernel (root): overlay with an upper dir, an overlay whose lowerdir list
 * exceeds a page, read-only binds, propagation, unmountAllUnder,
 * clearMountsUnder. Everything is unmounted in `after`.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import {
  bindMount,
  clearMountsUnder,
  isMountPoint,
  mountsUnder,
  overlayMount,
  readMountInfo,
  setPropagation,
  unmount,
  unmountAllUnder,
} from '../../../pkg/sys/index.js';
import { configureLogging, isKind } from '../../../pkg/util/index.js';

let dir: string;

before(async () => {
  configureLogging({ silent: true });
  if (process.getuid?.() !== 0) throw new Error('mount tests need root');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-sys-mount-'));
});

after(async () => {
  if (!dir) return;
  await unmountAllUnder(dir, { lazy: true });
  await fs.rm(dir, { recursive: true, force: true });
});

async function mk(...parts: string[]): Promise<string> {
  const p = path.join(dir, ...parts);
  await fs.mkdir(p, { recursive: true });
  return p;
}

it('mounts an overlay of two lower dirs with an upper dir', async () => {
  const [l1, l2, upper, work, target] = (await Promise.all(['l1', 'l2', 'upper', 'work', 'ovl'].map((n) => mk(n)))) as [
    string,
    string,
    string,
    string,
    string,
  ];
  await fs.writeFile(path.join(l1, 'a'), 'from l1');
  await fs.writeFile(path.join(l2, 'a'), 'from l2');
  await fs.writeFile(path.join(l2, 'b'), 'only l2');
  await overlayMount(target, { lowerDirs: [l1, l2], upperDir: upper, workDir: work });
  assert.ok(await isMountPoint(target));
  assert.equal(await fs.readFile(path.join(target, 'a'), 'utf8'), 'from l1', 'first lower dir is on top');
  assert.equal(await fs.readFile(path.join(target, 'b'), 'utf8'), 'only l2');
  await fs.writeFile(path.join(target, 'c'), 'new');
  assert.equal(await fs.readFile(path.join(upper, 'c'), 'utf8'), 'new', 'writes land in the upper dir');
  const m = (await readMountInfo()).find((x) => x.mountPoint === target);
  assert.equal(m?.fsType, 'overlay');
  await unmount(target);
  assert.equal(await isMountPoint(target), false);
  await unmount(target); // not mounted: quiet
});

it('mounts an overlay whose lowerdir list does not fit in a page', async () => {
  const lowers: string[] = [];
  for (let i = 0; i < 40; i++) {
    // ~120-character paths: 40 of them exceed the 4 KiB mount data page.
    const l = await mk('layers', `${'x'.repeat(90)}-${String(i).padStart(3, '0')}`);
    await fs.writeFile(path.join(l, `f${i}`), String(i));
    lowers.push(l);
  }
  assert.ok(lowers.join(':').length > 4096);
  const target = await mk('many');
  await overlayMount(target, { lowerDirs: lowers, linkDir: await mk('links') });
  const names = await fs.readdir(target);
  assert.equal(names.length, 40);
  assert.equal(await fs.readFile(path.join(target, 'f39'), 'utf8'), '39');
  assert.deepEqual(await fs.readdir(path.join(dir, 'links')), [], 'the symlink scratch dir is cleaned');
  await unmount(target);
});

it('rejects bad overlay arguments', async () => {
  const t = await mk('bad');
  await assert.rejects(overlayMount(t, { lowerDirs: [] }), (e: unknown) => isKind(e, 'InvalidArgument'));
  await assert.rejects(overlayMount(t, { lowerDirs: [t] }), (e: unknown) => isKind(e, 'InvalidArgument'));
  await assert.rejects(overlayMount(t, { lowerDirs: [t], upperDir: path.join(dir, 'a,b'), workDir: t }), (e: unknown) =>
    isKind(e, 'InvalidArgument'),
  );
});

it('binds read-only, sets propagation and unmounts everything under a dir deepest first', async () => {
  const src = await mk('src');
  await fs.writeFile(path.join(src, 'f'), 'x');
  const root = await mk('tree');
  await bindMount(root, root);
  await setPropagation(root, 'private');
  const info = (await readMountInfo()).find((m) => m.mountPoint === root);
  assert.equal(info?.propagation.shared, undefined);
  const ro = await mk('tree', 'ro');
  await bindMount(src, ro, { readOnly: true });
  await assert.rejects(fs.writeFile(path.join(ro, 'g'), 'y'), /EROFS/);
  const nested = await mk('tree', 'ro2');
  await bindMount(src, nested);
  const deeper = path.join(nested, 'sub');
  await fs.mkdir(deeper, { recursive: true }).catch(() => {});
  await bindMount(src, deeper);
  const before = (await mountsUnder(root)).map((m) => m.mountPoint);
  assert.equal(before[0], deeper, 'deepest first');
  assert.equal(before[before.length - 1], root);
  const done = await unmountAllUnder(root);
  assert.equal(done.length, 4);
  assert.deepEqual(await mountsUnder(root), []);
  await fs.rm(path.join(src, 'sub'), { recursive: true, force: true });
});

it('clearMountsUnder unmounts stacked and nested mounts, then lets the dir go; a dir without mounts is fine', async () => {
  const src = await mk('clear-src');
  await fs.writeFile(path.join(src, 'f'), 'x');
  const root = await mk('clear');
  const a = await mk('clear', 'a');
  await bindMount(src, a);
  await bindMount(src, a); // stacked on the same point: revealed only after the first unmount
  const b = await mk('clear', 'b');
  await fs.mkdir(path.join(b, 'c'));
  await bindMount(src, b);
  await bindMount(src, path.join(b, 'f')).catch(() => undefined); // a file bind inside a mount
  assert.ok((await mountsUnder(root)).length >= 3);
  await clearMountsUnder(root);
  assert.deepEqual(await mountsUnder(root), []);
  await fs.rm(root, { recursive: true });
  assert.equal(await fs.readFile(path.join(src, 'f'), 'utf8'), 'x', 'nothing removed through a mount');
  const plain = await mk('clear-plain', 'x');
  await clearMountsUnder(path.dirname(plain));
});

it('isMountPoint and mountsUnder find mounts whose paths mountinfo escapes (space, tab, backslash)', async () => {
  const src = await mk('esc-src');
  const root = await mk('esc root\twith\\odd');
  const inner = await mk('esc root\twith\\odd', 'in ner');
  const deeper = await mk('esc root\twith\\odd', 'b\\c', 'd e');
  // A sibling whose name starts with the same text: mounted, and not below `root`.
  const sibling = await mk('esc root\twith\\odd-not');
  for (const p of [inner, deeper, sibling]) await bindMount(src, p);
  try {
    assert.ok(await isMountPoint(inner));
    assert.ok(await isMountPoint(deeper));
    assert.ok(await isMountPoint(sibling));
    assert.equal(await isMountPoint(root), false);
    assert.deepEqual(
      (await mountsUnder(root)).map((m) => m.mountPoint),
      [deeper, inner],
    );
  } finally {
    await clearMountsUnder(root);
    await clearMountsUnder(sibling);
  }
  assert.deepEqual(await mountsUnder(root), []);
  assert.equal(await isMountPoint(inner), false);
  assert.equal(await isMountPoint(sibling), false);
});
