import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadAddon } from '../../../pkg/util/addon.js';
import { makeDirs } from '../../../pkg/util/make-dirs.js';
import { removeTree, removeTreeNative, rmdirTrees } from '../../../pkg/util/remove-tree.js';

let tmp: string;
before(async () => {
  assert.equal(process.getuid?.(), 0, 'the mount case needs root');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-fsjobs-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

let n = 0;
async function fresh(): Promise<string> {
  const d = path.join(tmp, `case-${n++}`);
  await fs.mkdir(d);
  return d;
}

describe('removeTree', () => {
  it('runs in the addon (a build that lost it would fall back to node rm unseen)', () => {
    assert.equal(removeTreeNative(), true, 'dist/native/ucri-fs.node is built by `make native`');
  });

  it('removes a tree of files, dirs, symlinks, fifos and read-only dirs, and a missing path is no error', async () => {
    const root = path.join(await fresh(), 'tree');
    await fs.mkdir(path.join(root, 'a/b/c'), { recursive: true });
    await fs.writeFile(path.join(root, 'a/b/c/file'), 'x'.repeat(10_000));
    await fs.writeFile(path.join(root, 'top'), 'y');
    await fs.symlink('/etc', path.join(root, 'a/etc-link'));
    await fs.symlink('b', path.join(root, 'a/dir-link'));
    execFileSync('mkfifo', [path.join(root, 'a/fifo')]);
    await fs.chmod(path.join(root, 'a/b'), 0o500);
    for (let i = 0; i < 300; i++) await fs.writeFile(path.join(root, 'a', `f${i}`), '');
    await removeTree(root);
    await assert.rejects(fs.lstat(root), { code: 'ENOENT' });
    await fs.access('/etc/hostname');
    await removeTree(root);
  });

  it('removes a single file or a symlink without following it', async () => {
    const d = await fresh();
    const target = path.join(d, 'target');
    await fs.mkdir(target);
    await fs.writeFile(path.join(target, 'keep'), 'k');
    await fs.symlink(target, path.join(d, 'link'));
    await removeTree(path.join(d, 'link'));
    assert.equal(await fs.readFile(path.join(target, 'keep'), 'utf8'), 'k');
    await fs.writeFile(path.join(d, 'file'), 'f');
    await removeTree(path.join(d, 'file'));
    await assert.rejects(fs.lstat(path.join(d, 'file')), { code: 'ENOENT' });
  });

  it('does not enter another file system: a mount below fails with EXDEV and keeps its content', async () => {
    const d = await fresh();
    const mnt = path.join(d, 'x', 'mnt');
    await fs.mkdir(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', mnt]);
    try {
      await fs.writeFile(path.join(mnt, 'inside'), 'i');
      await assert.rejects(removeTree(d), { code: 'EXDEV', path: d });
      assert.equal(await fs.readFile(path.join(mnt, 'inside'), 'utf8'), 'i');
    } finally {
      execFileSync('umount', [mnt]);
    }
    await removeTree(d);
    await assert.rejects(fs.lstat(d), { code: 'ENOENT' });
  });

  it('hands a tree deeper than the addon walks over to node rm', async () => {
    const root = path.join(await fresh(), 'deep');
    let p = root;
    for (let i = 0; i < 80; i++) p = path.join(p, 'd');
    await fs.mkdir(p, { recursive: true });
    await fs.writeFile(path.join(p, 'bottom'), 'b');
    await removeTree(root);
    await assert.rejects(fs.lstat(root), { code: 'ENOENT' });
  });

  it('reports other failures with the errno code and the path', async () => {
    const d = await fresh();
    const sub = path.join(d, 'sub');
    await fs.mkdir(sub);
    await fs.writeFile(path.join(sub, 'f'), '');
    // A read-only bind mount of the same file system: same device, so the walk goes in, and unlink fails.
    execFileSync('mount', ['--bind', '-o', 'ro', sub, sub]);
    try {
      await assert.rejects(removeTree(d), (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, 'EROFS');
        assert.equal(err.path, d);
        return true;
      });
      await fs.access(path.join(sub, 'f'));
    } finally {
      execFileSync('umount', [sub]);
    }
  });
});

describe('makeDirs', () => {
  it('runs in the addon', () => {
    const addon = loadAddon<{ makeDirs?: unknown }>('ucri-fs.node');
    assert.equal(typeof addon?.makeDirs, 'function', 'dist/native/ucri-fs.node is built by `make native`');
  });

  it('makes the dirs in order with their modes (under the umask)', async () => {
    const d = await fresh();
    const old = process.umask(0o022);
    try {
      await makeDirs([
        [path.join(d, 'a'), 0o700],
        [path.join(d, 'a', 'b'), 0o755],
        [path.join(d, 'a', 'b', 'c'), 0o777],
      ]);
    } finally {
      process.umask(old);
    }
    assert.equal((await fs.stat(path.join(d, 'a'))).mode & 0o7777, 0o700);
    assert.equal((await fs.stat(path.join(d, 'a', 'b'))).mode & 0o7777, 0o755);
    assert.equal((await fs.stat(path.join(d, 'a', 'b', 'c'))).mode & 0o7777, 0o755);
  });

  it('stops at the first that fails and names it; those before it are made', async () => {
    const d = await fresh();
    await fs.mkdir(path.join(d, 'taken'));
    await assert.rejects(
      makeDirs([
        [path.join(d, 'one'), 0o755],
        [path.join(d, 'taken'), 0o755],
        [path.join(d, 'three'), 0o755],
      ]),
      (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, 'EEXIST');
        assert.equal(err.path, path.join(d, 'taken'));
        return true;
      },
    );
    await fs.access(path.join(d, 'one'));
    await assert.rejects(fs.access(path.join(d, 'three')), { code: 'ENOENT' });
    await assert.rejects(makeDirs([[path.join(d, 'no', 'parent'), 0o755]]), { code: 'ENOENT' });
  });
});

describe('rmdirTrees', () => {
  it('rmdirs each path after the dirs below it, a missing one counting as gone', async () => {
    const d = await fresh();
    await fs.mkdir(path.join(d, 'a/b/c'), { recursive: true });
    await fs.mkdir(path.join(d, 'a/d'));
    await fs.mkdir(path.join(d, 'e'));
    assert.equal(await rmdirTrees([path.join(d, 'a'), path.join(d, 'missing'), path.join(d, 'e')]), undefined);
    assert.deepEqual(await fs.readdir(d), []);
  });

  it('leaves files alone: a dir holding one stops it, named with its code, and later paths are not touched', async () => {
    const d = await fresh();
    await fs.mkdir(path.join(d, 'a/b'), { recursive: true });
    await fs.writeFile(path.join(d, 'a/b/file'), 'f');
    await fs.mkdir(path.join(d, 'later'));
    assert.deepEqual(await rmdirTrees([path.join(d, 'a'), path.join(d, 'later')]), {
      path: path.join(d, 'a'),
      code: 'ENOTEMPTY',
    });
    await fs.access(path.join(d, 'a/b/file'));
    await fs.access(path.join(d, 'later'));
  });

  it('walks more than the addon takes (33 paths) itself, with the same answers', async () => {
    const d = await fresh();
    const paths = Array.from({ length: 33 }, (_, i) => path.join(d, `p${i}`));
    for (const p of paths) await fs.mkdir(path.join(p, 'sub'), { recursive: true });
    await fs.writeFile(path.join(paths[20]!, 'sub', 'file'), 'f');
    assert.deepEqual(await rmdirTrees(paths), { path: paths[20], code: 'ENOTEMPTY' });
    assert.deepEqual(
      (await fs.readdir(d)).sort(),
      paths
        .slice(20)
        .map((p) => path.basename(p))
        .sort(),
    );
    await fs.rm(path.join(paths[20]!, 'sub', 'file'));
    assert.equal(await rmdirTrees([...paths, path.join(d, 'missing')]), undefined);
    assert.deepEqual(await fs.readdir(d), []);
  });

  it('removes a real cgroup with its sub-cgroups, and answers EBUSY while a process is in one', async () => {
    // cgroup v1's pids hierarchy here, the unified hierarchy on a v2 host.
    const base = existsSync('/sys/fs/cgroup/pids/cgroup.procs') ? '/sys/fs/cgroup/pids' : '/sys/fs/cgroup';
    const cg = path.join(base, `ucri-test-rmdir-${process.pid}`);
    await fs.mkdir(path.join(cg, 'sub/leaf'), { recursive: true });
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await fs.writeFile(path.join(cg, 'sub/leaf/cgroup.procs'), String(child.pid));
      assert.deepEqual(await rmdirTrees([cg]), { path: cg, code: 'EBUSY' });
      await fs.access(path.join(cg, 'sub'));
    } finally {
      await fs.writeFile(path.join(base, 'cgroup.procs'), String(child.pid)).catch(() => {});
      child.kill('SIGKILL');
    }
    assert.equal(await rmdirTrees([cg]), undefined);
    assert.equal(existsSync(cg), false);
  });
});

describe('the addon refuses bad arguments', () => {
  it('throws, before any job runs, for a path with a NUL byte, a mode that is not permission bits, too many paths', () => {
    const addon = loadAddon<{
      removeTree(p: unknown): Promise<number>;
      makeDirs(p: unknown, m: unknown): Promise<unknown>;
      rmdirTrees(p: unknown): Promise<unknown>;
    }>('ucri-fs.node')!;
    assert.throws(() => addon.removeTree('/tmp/a\0b'), /NUL byte/);
    assert.throws(() => addon.removeTree(42), /strings/);
    assert.throws(() => addon.makeDirs([path.join(tmp, 'm')], [0o10000]), /permission bits/);
    assert.throws(() => addon.makeDirs([path.join(tmp, 'm')], []), /one mode/);
    assert.throws(
      () => addon.rmdirTrees(Array.from({ length: 33 }, (_, i) => path.join(tmp, String(i)))),
      /at most 32/,
    );
  });
});
