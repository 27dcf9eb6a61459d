import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SandboxStore, sandboxName } from '../../../pkg/cri/store/sandbox.js';
import { ContainerStore, containerName, createdStatus } from '../../../pkg/cri/store/container.js';
import { toPodSpec } from '../../../pkg/cri/translate/pod.js';
import { isKind } from '../../../pkg/util/index.js';
import { podConfig } from './harness.js';

const ID = 'a'.repeat(64);

describe('cri stores', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ucri-store-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('checkpoints records atomically and reloads them with bigints and names', async () => {
    const s = new SandboxStore(dir);
    await s.load();
    const spec = toPodSpec(ID, podConfig('p1'), 'mesos');
    const name = sandboxName(spec);
    assert.equal(name, 'p1_default_uid-p1_0');
    await s.add(
      { id: ID, spec, name, fingerprint: 'f', createdAt: 1700000000123456789n },
      { state: 'creating', ips: [], netnsPath: '' },
    );
    await s.update(ID, (st) => ({ ...st, state: 'ready', ips: ['10.0.0.2'] }));
    const files = await readdir(path.join(dir, 'cri', 'sandboxes'));
    assert.deepEqual(files, [`${ID}.json`]);
    const raw = JSON.parse(await readFile(path.join(dir, 'cri', 'sandboxes', `${ID}.json`), 'utf8'));
    assert.equal(raw.status.state, 'ready');

    const again = new SandboxStore(dir);
    await again.load();
    const rec = again.must(ID);
    assert.equal(rec.meta.createdAt, 1700000000123456789n);
    assert.deepEqual(rec.status.ips, ['10.0.0.2']);
    assert.equal(again.names.get(name)?.id, ID);
    assert.ok(Object.isFrozen(rec.status));
  });

  it('makes a record durable in one round (firstDurable): renamed into place, reloaded, no temp file left', async () => {
    const sub = await mkdtemp(path.join(dir, 'first-'));
    const s = new SandboxStore(sub);
    await s.load();
    const spec = toPodSpec(ID, podConfig('p9'), 'mesos');
    await s.add(
      { id: ID, spec, name: sandboxName(spec), fingerprint: 'f', createdAt: 5n },
      { state: 'creating', ips: [], netnsPath: '' },
      { durable: false },
    );
    const rec = await s.update(ID, (st) => ({ ...st, state: 'ready', ips: ['10.0.0.9'] }), { firstDurable: true });
    assert.equal(rec.status.state, 'ready');
    assert.equal(s.must(ID).status.state, 'ready');
    assert.deepEqual(await readdir(path.join(sub, 'cri', 'sandboxes')), [`${ID}.json`]);
    const again = new SandboxStore(sub);
    await again.load();
    assert.deepEqual(again.must(ID).status, { state: 'ready', ips: ['10.0.0.9'], netnsPath: '' });
    // A torn first durable write (a power loss during its round) is moved aside: the record is absent.
    await writeFile(path.join(sub, 'cri', 'sandboxes', `${ID}.json`), '{"version":1,"meta":{"id":');
    const torn = new SandboxStore(sub);
    await torn.load();
    assert.equal(torn.get(ID), undefined);
    assert.deepEqual((await readdir(path.join(sub, 'cri', 'sandboxes'))).sort(), [`${ID}.json.corrupt`]);
  });

  it('finds by unique prefix and refuses an ambiguous one', async () => {
    const s = new SandboxStore(dir);
    await s.load();
    const other = `${'a'.repeat(10)}${'b'.repeat(54)}`;
    const spec = toPodSpec(other, podConfig('p2'), 'mesos');
    await s.add(
      { id: other, spec, name: sandboxName(spec), fingerprint: 'g', createdAt: 1n },
      { state: 'ready', ips: [], netnsPath: '' },
    );
    assert.equal(s.find('aaaaaaaaaab')?.meta.id, other);
    assert.equal(s.find('ccc'), undefined);
    assert.throws(
      () => s.find('aaaa'),
      (e) => isKind(e, 'InvalidArgument'),
    );
    await s.remove(other);
    assert.equal(s.names.get(sandboxName(spec)), undefined, 'removing the record frees the name');
    assert.equal(s.find('aaaa')?.meta.id, ID);
  });

  it('serializes updates of one record and fails an update of a removed record', async () => {
    const s = new ContainerStore(dir);
    await s.load();
    const cid = 'c'.repeat(64);
    await s.add(
      {
        id: cid,
        podId: ID,
        spec: {} as never,
        name: containerName('c', ID, 0),
        fingerprint: 'x',
        createdAt: 5n,
        image: { requested: 'b', display: 'b', id: 'i', ref: 'r' },
        runtimeHandler: 'mesos',
      },
      createdStatus({} as never),
    );
    // The fake spec has no id: loading would move it aside, which the next test checks separately.
    const bumps = await Promise.all(
      Array.from({ length: 10 }, () => s.update(cid, (st) => ({ ...st, exitCode: st.exitCode + 1 }))),
    );
    assert.equal(Math.max(...bumps.map((r) => r.status.exitCode)), 10);
    assert.equal(s.must(cid).status.exitCode, 10);
    await s.remove(cid);
    await assert.rejects(
      s.update(cid, (st) => st),
      (e) => isKind(e, 'NotFound'),
    );
    await s.remove(cid); // idempotent
  });

  it('moves an unreadable checkpoint aside instead of failing to start', async () => {
    const d = path.join(dir, 'cri', 'containers');
    await writeFile(path.join(d, `${'d'.repeat(64)}.json`), '{not json');
    await writeFile(path.join(d, `${'e'.repeat(64)}.json.tmp-123456`), 'partial');
    const s = new ContainerStore(dir);
    await s.load();
    assert.equal(s.list().length, 0);
    const names = (await readdir(d)).sort();
    assert.deepEqual(names, [`${'d'.repeat(64)}.json.corrupt`]);
  });
});
