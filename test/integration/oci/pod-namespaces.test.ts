/**
 * Two containers join one set of pinned namespaces (a pod without a pause process): same hostname, same
 * network namespace. Needs root.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, it } from 'node:test';
import {
  createPinnedNamespaces,
  ensurePinRoot,
  listPinnedIds,
  namespaceInode,
  removePinnedNamespaces,
  unmountAllUnder,
} from '../../../pkg/sys/index.js';
import { Fixture } from './fixture.js';

let f: Fixture;
let pinRoot: string;

before(async () => {
  f = await Fixture.create();
  pinRoot = path.join(f.dir, 'pins');
  await ensurePinRoot(pinRoot);
});

after(async () => {
  if (f) {
    // Pins and the pin root first: the fixture removes its directory, which must hold no mount by then.
    await unmountAllUnder(pinRoot, { lazy: true });
    await f.cleanup();
  }
});

it('containers joining pinned namespaces share hostname and network namespace', async () => {
  const pins = await createPinnedNamespaces(pinRoot, 'pod1', { hostname: 'pod-one' });
  assert.deepEqual(await listPinnedIds(pinRoot), ['pod1']);
  const netIno = await namespaceInode(pins.net!);
  const outputs: string[] = [];
  for (let i = 0; i < 2; i++) {
    const b = await f.bundle(['sh', '-c', 'hostname; readlink /proc/self/ns/net; readlink /proc/self/ns/ipc'], (s) => {
      s.linux!.namespaces = [
        { type: 'pid' },
        { type: 'mount' },
        { type: 'network', path: pins.net },
        { type: 'ipc', path: pins.ipc },
        { type: 'uts', path: pins.uts },
      ];
    });
    const c = await f.createContainer(b);
    await f.runtime.start(b.id);
    assert.equal(await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid }), 0);
    const text = await fs.readFile(b.logPath, 'utf8');
    outputs.push(
      text
        .split('\n')
        .filter((l) => l)
        .map((l) => l.split(' ').slice(3).join(' '))
        .join('|'),
    );
    await f.runtime.delete(b.id);
  }
  assert.equal(outputs[0], outputs[1]);
  const [host, net, ipc] = outputs[0]!.split('|');
  assert.equal(host, 'pod-one');
  assert.equal(net, `net:[${netIno}]`);
  assert.equal(ipc, `ipc:[${await namespaceInode(pins.ipc!)}]`);

  await removePinnedNamespaces(pinRoot, 'pod1');
  assert.deepEqual(await listPinnedIds(pinRoot), []);
  await removePinnedNamespaces(pinRoot, 'pod1'); // idempotent
});
