/**
 * ReadOnlyBinary against the real host (root, real mounts, Debian's crun): crun run from the read-only mount
 * starts once instead of copying and re-executing itself; a replaced binary is used at once and mounted
 * again; a restart adopts its own mount and detaches others. Every mount is under a temp dir removed in `after`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, it } from 'node:test';
import { ReadOnlyBinary } from '../../../pkg/oci/ro-binary.js';
import { bindMount, readMountInfo, unmountAllUnder } from '../../../pkg/sys/index.js';
import { configureLogging, requireExecutable, SYSTEM_DIRS } from '../../../pkg/util/index.js';

const run = promisify(execFile);
let tmp: string;

before(async () => {
  configureLogging({ silent: true });
  if (process.getuid?.() !== 0) throw new Error('read-only binary tests need root');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-robin-'));
});

after(async () => {
  await unmountAllUnder(tmp, { lazy: true });
  await fs.rm(tmp, { recursive: true, force: true });
});

/** The mounts at `p` (top last). */
async function mountsAt(p: string) {
  return (await readMountInfo('self')).filter((m) => m.mountPoint === p);
}

/** A ReadOnlyBinary of Debian's crun in a fresh dir `name` under the temp dir, and the path it gives. */
async function crunIn(name: string) {
  const crun = await requireExecutable('crun', SYSTEM_DIRS);
  const dir = path.join(tmp, name);
  const b = await ReadOnlyBinary.open(crun, dir);
  return { crun, dir, b, p: b.path() };
}

/** How many times the C library's initialiser ran in one `<bin> --version`: 2 when crun re-executed itself. */
async function libcInits(bin: string): Promise<number> {
  const r = await run(bin, ['--version'], { env: { ...process.env, LD_DEBUG: 'files' } });
  return r.stderr.split('\n').filter((l) => /calling init: .*\/libc\.so/.test(l)).length;
}

it('crun started from the read-only mount runs once, and its file cannot be written through it', async () => {
  const { crun, dir, p } = await crunIn('crun');
  assert.notEqual(p, crun);
  assert.equal(path.dirname(p), dir);
  const st = await fs.stat(crun);
  assert.equal(path.basename(p), `crun-${st.dev}-${st.ino}`);
  const [m] = await mountsAt(p);
  assert.ok(m?.options.includes('ro'), `mount at ${p}: ${JSON.stringify(m)}`);
  await assert.rejects(fs.open(p, 'r+'), { code: 'EROFS' });
  // The check this is for: as installed, crun binds /proc/self/exe read-only and re-executes itself.
  assert.equal(await libcInits(crun), 2);
  assert.equal(await libcInits(p), 1);
});

it('a replaced binary is run as installed at once, then from a new mount; the old mount goes', async () => {
  const bin = path.join(tmp, 'installed');
  await fs.mkdir(bin);
  const tool = path.join(bin, 'tool');
  await fs.copyFile('/bin/true', tool);
  await fs.chmod(tool, 0o755);
  const dir = path.join(tmp, 'upgrade');
  const b = await ReadOnlyBinary.open(tool, dir, { retireAfterMs: 0 });
  const first = b.path();
  assert.notEqual(first, tool);
  await run(first, []);

  // A package upgrade: the new file is renamed over the old one (a new inode).
  const next = path.join(bin, 'tool.new');
  await fs.copyFile('/bin/true', next);
  await fs.chmod(next, 0o755);
  await fs.rename(next, tool);
  assert.equal(b.path(), tool, 'the installed file until its mount is made');
  await b.settled();
  const second = b.path();
  assert.notEqual(second, first);
  assert.equal(path.basename(second), `tool-${(await fs.stat(tool)).dev}-${(await fs.stat(tool)).ino}`);
  assert.ok((await mountsAt(second)).at(-1)?.options.includes('ro'));
  await run(second, []);
  // Retired at once here (retireAfterMs 0); the detach runs in the background.
  for (let i = 0; i < 200 && existsSync(first); i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(await mountsAt(first), []);
  await assert.rejects(fs.stat(first), { code: 'ENOENT' });
  assert.deepEqual(await fs.readdir(dir), [path.basename(second)]);
});

it('a restart adopts its own mount and detaches what else is mounted in the directory', async () => {
  const { crun, dir, p } = await crunIn('restart');
  // A mount of another file left in the directory (an older version's).
  const stale = path.join(dir, 'crun-0-0');
  await fs.writeFile(stale, '');
  await bindMount('/bin/true', stale, { readOnly: true });

  const again = await ReadOnlyBinary.open(crun, dir);
  assert.equal(again.path(), p);
  assert.equal((await mountsAt(p)).length, 1, 'the existing mount reused, not stacked');
  assert.deepEqual(await mountsAt(stale), []);
  assert.deepEqual(await fs.readdir(dir), [path.basename(p)]);
});

it('close detaches the mount and leaves the installed file to run', async () => {
  const { crun, dir, b, p } = await crunIn('close');
  assert.equal((await mountsAt(p)).length, 1);
  await b.close();
  assert.deepEqual(await mountsAt(p), []);
  assert.deepEqual(await fs.readdir(dir), []);
  assert.equal(b.path(), crun);
  await b.settled();
  assert.deepEqual(await fs.readdir(dir), [], 'no new mount after close');
});
