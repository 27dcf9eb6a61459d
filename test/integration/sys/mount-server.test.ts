/**
 * The persistent mount helper (pkg/sys/mount-server.ts, `nsutil serve`) against the real kernel (root):
 * mount, bind, overlay with relative lower dirs, propagation and unmount all go through one long-lived
 * process; failures come back as errors naming the errno; a killed helper is replaced on the next call; pins
 * (the "pin" request) are made by a child of the helper.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import {
  bindMount,
  createPinnedNamespaces,
  ensurePinRoot,
  isMountPoint,
  isPinned,
  listPinnedIds,
  mount,
  mountServer,
  mountsUnder,
  namespaceInode,
  overlayMount,
  readMountInfo,
  removePinnedNamespaces,
  run,
  runInNetns,
  setPropagation,
  unmount,
  unmountAllUnder,
  unmountUntilBare,
} from '../../../pkg/sys/index.js';
import { configureLogging } from '../../../pkg/util/index.js';

let dir: string;

before(async () => {
  configureLogging({ silent: true });
  if (!mountServer()) throw new Error('dist/native/nsutil is not built (make native)');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-mount-server-'));
});

after(async () => {
  if (!dir) return;
  await unmountAllUnder(dir, { lazy: true });
  await fs.rm(dir, { recursive: true, force: true });
});

async function mountOf(p: string) {
  const all = (await readMountInfo()).filter((m) => m.mountPoint === p);
  return all[all.length - 1];
}

it('mounts with flags and data, binds, changes propagation and unmounts, all in one helper process', async () => {
  const t = path.join(dir, 'tmp');
  await fs.mkdir(t);
  await mount('tmpfs', t, { fsType: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=1m'] });
  const pid = mountServer()?.pid();
  assert.ok(pid, 'the helper runs after the first mount');
  const m = await mountOf(t);
  assert.equal(m?.fsType, 'tmpfs');
  assert.ok(m?.options.includes('nosuid') && m.options.includes('nodev'), `options ${m?.options}`);
  assert.ok(m?.superOptions.includes('size=1024k'), `super options ${m?.superOptions}`);

  const b = path.join(dir, 'bind');
  await fs.mkdir(b);
  await bindMount(t, b);
  await fs.writeFile(path.join(t, 'f'), 'x');
  assert.equal(await fs.readFile(path.join(b, 'f'), 'utf8'), 'x');
  await setPropagation(b, 'private');
  assert.equal((await mountOf(b))?.propagation.shared, undefined);
  await setPropagation(b, 'shared');
  assert.ok((await mountOf(b))?.propagation.shared);

  await unmount(b);
  await unmount(t);
  assert.equal(await isMountPoint(b), false);
  assert.equal(await isMountPoint(t), false);
  assert.equal(mountServer()?.pid(), pid, 'no new helper process per call');
});

it('mounts an overlay whose lower dirs are relative to the given cwd', async () => {
  const base = path.join(dir, 'ovl');
  for (const d of ['l1', 'l2', 'upper', 'work', 'merged']) await fs.mkdir(path.join(base, d), { recursive: true });
  await fs.writeFile(path.join(base, 'l1', 'a'), 'top');
  await fs.writeFile(path.join(base, 'l2', 'a'), 'bottom');
  await fs.writeFile(path.join(base, 'l2', 'b'), 'b');
  await mount('overlay', path.join(base, 'merged'), {
    fsType: 'overlay',
    options: ['lowerdir=l1:l2', `upperdir=${base}/upper`, `workdir=${base}/work`],
    cwd: base,
  });
  assert.equal(await fs.readFile(path.join(base, 'merged', 'a'), 'utf8'), 'top');
  assert.equal(await fs.readFile(path.join(base, 'merged', 'b'), 'utf8'), 'b');
  await unmountAllUnder(base);
  assert.equal((await mountsUnder(base)).length, 0);
  // The long-list path of overlayMount (symlinks in a scratch cwd) goes through the helper too.
  const merged2 = path.join(base, 'merged');
  const many = Array.from({ length: 80 }, (_x, i) =>
    path.join(base, `layer-with-a-long-name-${String(i).padStart(40, '0')}`),
  );
  for (const d of many) await fs.mkdir(d);
  await overlayMount(merged2, { lowerDirs: [path.join(base, 'l1'), ...many], linkDir: path.join(dir, 'links') });
  assert.equal(await fs.readFile(path.join(merged2, 'a'), 'utf8'), 'top');
  await unmount(merged2);
});

it('reports failures with their errno; not mounted is fine unless asked otherwise', async () => {
  await assert.rejects(
    mount('tmpfs', path.join(dir, 'missing', 'x'), { fsType: 'tmpfs' }),
    (err: Error) => err.name === 'InternalError' && /ENOENT/.test(err.message),
  );
  const bare = path.join(dir, 'bare');
  await fs.mkdir(bare);
  await unmount(bare);
  await unmount(path.join(dir, 'nothing-here'));
  await assert.rejects(unmount(bare, { ignoreNotMounted: false }), /EINVAL/);
  for (let i = 0; i < 3; i++) await mount('tmpfs', bare, { fsType: 'tmpfs' });
  await unmountUntilBare(bare);
  assert.equal(await isMountPoint(bare), false);
});

it('starts a new helper when the old one is killed', async () => {
  const t = path.join(dir, 'restart');
  await fs.mkdir(t);
  await mount('tmpfs', t, { fsType: 'tmpfs' });
  const pid = mountServer()?.pid();
  assert.ok(pid);
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 100 && mountServer()?.pid() === pid; i++) await new Promise((r) => setTimeout(r, 20));
  await unmount(t);
  assert.equal(await isMountPoint(t), false);
  const again = mountServer()?.pid();
  assert.ok(again && again !== pid, 'a new helper serves the call');
});

it('pins namespaces in a child of the helper, which keeps its own namespaces and pid', async () => {
  const pinRoot = path.join(dir, 'pins');
  await ensurePinRoot(pinRoot);
  const server = mountServer()!;
  await server.call(['umount', path.join(dir, 'nothing'), '0']); // the helper runs before the pin
  const pid = server.pid()!;
  const own = await namespaceInode(`/proc/${pid}/ns/net`);
  const pins = await createPinnedNamespaces(pinRoot, 'srv1', { kinds: ['net', 'uts', 'ipc'], hostname: 'pinned-1' });
  for (const p of [pins.net!, pins.ipc!, pins.uts!]) assert.ok(await isPinned(p), p);
  const host = await run('nsenter', [`--uts=${pins.uts}`, '--', 'hostname']);
  assert.equal(host.stdout.trim(), 'pinned-1');
  assert.match((await runInNetns(pins.net!, 'ip', ['-o', 'link', 'show', 'lo'])).stdout, /UP/);
  assert.notEqual(await namespaceInode(pins.net!), own);
  assert.equal(server.pid(), pid, 'no new helper per pin');
  assert.equal(await namespaceInode(`/proc/${pid}/ns/net`), own, 'the helper stays in its network namespace');
  assert.equal(await namespaceInode(`/proc/${pid}/ns/uts`), await namespaceInode('/proc/self/ns/uts'));

  // Failures come back as an errno with the failed call and path; the helper goes on serving.
  const missing = path.join(pinRoot, 'no-such-file');
  const a = await server.call(['pin', missing, '', '', '']);
  assert.equal(a.code, 'ENOENT');
  assert.match(a.message, /bind mount .*no-such-file/);
  assert.equal((await server.call(['pin', '', '', '', ''])).code, 'EINVAL', 'nothing to pin');
  assert.equal((await server.call(['pin', pins.net!, '', '', 'h'])).code, 'EINVAL', 'a hostname needs uts');
  assert.equal(server.pid(), pid);
  await removePinnedNamespaces(pinRoot, 'srv1');
  assert.deepEqual(await listPinnedIds(pinRoot), []);
});
