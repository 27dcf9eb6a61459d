/**
 * Pinned namespaces and process helpers against the real kernel (root). Pins and the pin root mount are
 * removed in `after`.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import {
  createNetns,
  createPinnedNamespaces,
  ensurePinRoot,
  isAlive,
  isMountPoint,
  isPinned,
  listPinnedIds,
  namespaceInode,
  readStartTime,
  removeNetns,
  removePinnedNamespaces,
  run,
  runInNetns,
  start,
  unmountAllUnder,
  waitPidExit,
} from '../../../pkg/sys/index.js';
import { configureLogging, isKind } from '../../../pkg/util/index.js';

let dir: string;
let pinRoot: string;

before(async () => {
  configureLogging({ silent: true });
  if (process.getuid?.() !== 0) throw new Error('namespace tests need root');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-sys-ns-'));
  pinRoot = path.join(dir, 'pins');
});

after(async () => {
  if (!dir) return;
  await unmountAllUnder(dir, { lazy: true });
  await fs.rm(dir, { recursive: true, force: true });
});

it('refuses to pin before the pin root is prepared', async () => {
  await fs.mkdir(pinRoot, { recursive: true });
  await assert.rejects(createPinnedNamespaces(pinRoot, 'early'), (e: unknown) => isKind(e, 'InvalidArgument'));
  assert.deepEqual(await listPinnedIds(pinRoot), []);
});

it('creates pinned net/ipc/uts namespaces with a hostname and lo up, then removes them', async () => {
  await ensurePinRoot(pinRoot);
  await ensurePinRoot(pinRoot); // idempotent
  assert.ok(await isMountPoint(pinRoot));
  const pins = await createPinnedNamespaces(pinRoot, 'sb1', { hostname: 'sandbox-1' });
  for (const p of [pins.net!, pins.ipc!, pins.uts!]) assert.ok(await isPinned(p), p);
  const host = await run('nsenter', [`--uts=${pins.uts}`, '--', 'hostname']);
  assert.equal(host.stdout.trim(), 'sandbox-1');
  assert.notEqual(host.stdout.trim(), os.hostname());
  const lo = await runInNetns(pins.net!, 'ip', ['-o', 'link', 'show', 'lo']);
  assert.match(lo.stdout, /UP/);
  const links = await runInNetns(pins.net!, 'ip', ['-o', 'link']);
  assert.equal(links.stdout.trim().split('\n').length, 1, 'a new netns has only lo');
  assert.notEqual(await namespaceInode(pins.net!), await namespaceInode('/proc/self/ns/net'));

  await assert.rejects(createPinnedNamespaces(pinRoot, 'sb1'), (e: unknown) => isKind(e, 'AlreadyExists'));
  await assert.rejects(createPinnedNamespaces(pinRoot, 'sb2', { hostname: 'bad_host!' }), (e: unknown) =>
    isKind(e, 'InvalidArgument'),
  );
  await assert.rejects(createPinnedNamespaces(pinRoot, '../x'), (e: unknown) => isKind(e, 'InvalidArgument'));
  assert.deepEqual(await listPinnedIds(pinRoot), ['sb1']);

  const net = await createNetns(pinRoot, 'sb3');
  assert.ok(await isPinned(net));
  assert.deepEqual(await listPinnedIds(pinRoot), ['sb1', 'sb3']);
  await removeNetns(pinRoot, 'sb3');
  await removePinnedNamespaces(pinRoot, 'sb1');
  await removePinnedNamespaces(pinRoot, 'sb1');
  assert.deepEqual(await listPinnedIds(pinRoot), []);
  const left = (await fs.readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(pinRoot));
  assert.equal(left.length, 1, 'only the pin root itself stays mounted');
});

it('tracks a process by pid and start time and waits for a non-child exit', async () => {
  const child = await start('/bin/sleep', ['1000'], { stdio: 'ignore' });
  const pid = child.pid!;
  const st = await readStartTime(pid);
  assert.ok(st !== undefined);
  assert.ok(await isAlive(pid, st));
  assert.equal(await isAlive(pid, st + 1n), false, 'another start time means another process');
  const waited = waitPidExit(pid, { startTime: st, intervalMs: 20 });
  child.kill('SIGKILL');
  await waited;
  assert.equal(await isAlive(pid), false);
  const ac = new AbortController();
  const self = waitPidExit(process.pid, { signal: ac.signal, intervalMs: 20 });
  ac.abort();
  await assert.rejects(self, (e: unknown) => isKind(e, 'Cancelled'));
});
