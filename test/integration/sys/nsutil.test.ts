/**
 * native/nsutil against the real kernel (root): pins made in one process, unmounts until bare or once, and
 * its failures (exit 1 naming the call, exit 2 on bad usage). The pinned-namespace API that uses it is
 * covered by namespaces.test.ts.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import {
  ensurePinRoot,
  isMountPoint,
  isPinned,
  namespaceInode,
  nativeHelper,
  run,
  runInNetns,
  unmountAllUnder,
} from '../../../pkg/sys/index.js';
import { configureLogging } from '../../../pkg/util/index.js';

let dir: string;
let nsutil: string;

before(async () => {
  configureLogging({ silent: true });
  const helper = nativeHelper('nsutil');
  if (!helper) throw new Error('dist/native/nsutil is not built (make native)');
  nsutil = helper;
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-nsutil-'));
  await ensurePinRoot(dir);
});

after(async () => {
  if (!dir) return;
  await unmountAllUnder(dir, { lazy: true });
  await fs.rm(dir, { recursive: true, force: true });
});

it('pins only the namespaces asked for, with lo up in a new netns', async () => {
  const net = path.join(dir, 'net');
  await fs.writeFile(net, '');
  await run(nsutil, ['pin', '--net', net]);
  assert.ok(await isPinned(net));
  assert.notEqual(await namespaceInode(net), await namespaceInode('/proc/self/ns/net'));
  const lo = await runInNetns(net, 'ip', ['-o', 'link', 'show', 'lo']);
  assert.match(lo.stdout, /<LOOPBACK,UP/);
  await run(nsutil, ['unmount', '--lazy', net]);
  assert.equal(await isMountPoint(net), false);
});

it('unmounts an over-mounted path until bare, or once with --once; a bare path is fine', async () => {
  const target = path.join(dir, 'stacked');
  await fs.mkdir(target);
  for (let i = 0; i < 3; i++) await run('mount', ['-t', 'tmpfs', 'tmpfs', target]);
  await run(nsutil, ['unmount', '--once', target]);
  assert.ok(await isMountPoint(target), 'two mounts left after one --once');
  await run(nsutil, ['unmount', target]);
  assert.equal(await isMountPoint(target), false);
  await run(nsutil, ['unmount', target, path.join(dir, 'missing')]);
});

it('fails with the call and path named, and refuses bad usage', async () => {
  const r = await run(nsutil, ['pin', '--uts', path.join(dir, 'no-such-file'), '--hostname', 'h1'], {
    allowFailure: true,
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bind mount .*no-such-file/);
  for (const args of [[], ['pin'], ['pin', '--hostname', 'h'], ['unmount'], ['frob']]) {
    const u = await run(nsutil, args, { allowFailure: true });
    assert.equal(u.code, 2, `nsutil ${args.join(' ')}`);
  }
});
