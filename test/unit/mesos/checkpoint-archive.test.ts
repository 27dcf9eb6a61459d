/**
 * The checkpoint archive without CRIU: the writable layer's changes (files, overlay whiteouts, opaque dirs)
 * go into the archive and come back onto a fresh rootfs of the same image; archives with members that could
 * write outside the rootfs (through a symlink of the diff or of the image) are refused. Needs root (mknod,
 * trusted xattrs).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { inspectCheckpoint, prepareRestore, writeRootfsDiff } from '../../../pkg/mesos/containerizer/checkpoint.js';

const run = promisify(execFile);
const signal = new AbortController().signal;

describe('checkpoint archive', () => {
  let root: string;
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-k8sckpt-ckpt-'));
  });
  after(() => fs.rm(root, { recursive: true, force: true }));

  /** A fresh "image rootfs": etc/keep, etc/gone, old/a, lib -> usr/lib, abs -> /etc. */
  const imageRootfs = async (name: string) => {
    const r = path.join(root, name);
    await fs.mkdir(path.join(r, 'etc'), { recursive: true });
    await fs.mkdir(path.join(r, 'old'), { recursive: true });
    await fs.mkdir(path.join(r, 'usr', 'lib'), { recursive: true });
    await fs.writeFile(path.join(r, 'etc', 'keep'), 'keep\n');
    await fs.writeFile(path.join(r, 'etc', 'gone'), 'gone\n');
    await fs.writeFile(path.join(r, 'old', 'a'), 'a\n');
    await fs.symlink('usr/lib', path.join(r, 'lib'));
    await fs.symlink('/etc', path.join(r, 'abs'));
    return r;
  };

  /** An archive as CheckpointContainer writes it, with `work` holding what goes in. */
  const archive = async (name: string, work: string) => {
    await fs.mkdir(path.join(work, 'checkpoint'), { recursive: true });
    await fs.writeFile(path.join(work, 'checkpoint', 'inventory.img'), 'x');
    await fs.writeFile(path.join(work, 'checkpoint', 'descriptors.json'), '[]');
    await fs.writeFile(
      path.join(work, 'config.dump'),
      JSON.stringify({
        version: 1,
        kind: 'ucri-checkpoint',
        containerId: 'c',
        image: { id: `sha256:${'a'.repeat(64)}`, ref: 'img' },
        spec: {},
      }),
    );
    await fs.writeFile(path.join(work, 'spec.dump'), '{}');
    const members = (await fs.readdir(work)).sort();
    const file = path.join(root, name);
    await run('tar', ['-cf', file, '-C', work, ...members]);
    return file;
  };

  it('carries the writable layer: new files, deletions (whiteouts), replaced dirs (opaque)', async () => {
    const upper = path.join(root, 'upper');
    await fs.mkdir(path.join(upper, 'etc'), { recursive: true });
    await fs.writeFile(path.join(upper, 'etc', 'new'), 'new\n');
    await run('mknod', [path.join(upper, 'etc', 'gone'), 'c', '0', '0']);
    await fs.mkdir(path.join(upper, 'old'));
    await run('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', path.join(upper, 'old')]);
    await fs.writeFile(path.join(upper, 'old', 'b'), 'b\n');
    const work = path.join(root, 'work');
    await fs.mkdir(work);
    await writeRootfsDiff(upper, work, signal);
    const deleted = JSON.parse(readFileSync(path.join(work, 'deleted.json'), 'utf8'));
    assert.deepEqual(deleted, { deleted: ['etc/gone'], opaque: ['old'] });
    const file = await archive('good.tar', work);
    assert.deepEqual(await inspectCheckpoint(file, signal), {
      containerId: 'c',
      image: { id: `sha256:${'a'.repeat(64)}`, ref: 'img' },
    });

    const rootfs = await imageRootfs('rootfs-good');
    const dir = path.join(root, 'restore-good');
    await prepareRestore(file, dir, rootfs, signal);
    assert.equal(readFileSync(path.join(rootfs, 'etc', 'new'), 'utf8'), 'new\n');
    assert.equal(readFileSync(path.join(rootfs, 'etc', 'keep'), 'utf8'), 'keep\n');
    assert.ok(!existsSync(path.join(rootfs, 'etc', 'gone')), 'whited-out file still there');
    assert.deepEqual(await fs.readdir(path.join(rootfs, 'old')), ['b']);
    assert.ok(existsSync(path.join(dir, 'checkpoint', 'inventory.img')));
  });

  it('refuses diffs that would write or delete through a symlink', async () => {
    // A symlink in the diff, then a member below it.
    const w1 = path.join(root, 'w1');
    const d1 = path.join(root, 'd1');
    await fs.mkdir(d1, { recursive: true });
    await fs.symlink('/', path.join(d1, 'escape'));
    await fs.mkdir(w1);
    await run('tar', ['-cf', path.join(w1, 'rootfs-diff.tar'), '-C', d1, 'escape']);
    // GNU tar will not put "escape/etc/x" below a symlink it archived: append a member by that name by hand.
    const extra = path.join(root, 'extra');
    await fs.mkdir(path.join(extra, 'escape', 'etc'), { recursive: true });
    await fs.writeFile(path.join(extra, 'escape', 'etc', 'x'), 'x');
    await run('tar', ['-rf', path.join(w1, 'rootfs-diff.tar'), '-C', extra, 'escape/etc/x']);
    await fs.writeFile(path.join(w1, 'deleted.json'), JSON.stringify({ deleted: [], opaque: [] }));
    const f1 = await archive('escape.tar', w1);
    await assert.rejects(
      prepareRestore(f1, path.join(root, 'r1'), await imageRootfs('rootfs-1'), signal),
      /below a symlink/,
    );

    // A deletion through an absolute symlink of the image.
    const w2 = path.join(root, 'w2');
    await fs.mkdir(w2);
    await run('tar', ['-cf', path.join(w2, 'rootfs-diff.tar'), '-T', '/dev/null']);
    await fs.writeFile(path.join(w2, 'deleted.json'), JSON.stringify({ deleted: ['abs/passwd'], opaque: [] }));
    const f2 = await archive('delete-through.tar', w2);
    await assert.rejects(
      prepareRestore(f2, path.join(root, 'r2'), await imageRootfs('rootfs-2'), signal),
      /below a symlink/,
    );
    await fs.writeFile(path.join(w2, 'deleted.json'), JSON.stringify({ deleted: ['../x'], opaque: [] }));
    const f3 = await archive('dotdot.tar', w2);
    await assert.rejects(prepareRestore(f3, path.join(root, 'r3'), await imageRootfs('rootfs-3'), signal), /bad path/);
    assert.ok(existsSync('/etc/passwd'));
  });
});
