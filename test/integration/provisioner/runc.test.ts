/**
 * Real containers on provisioned rootfses: runc under conmon runs `cat` of a file from the image's top layer
 * on an overlay, a copy and a read-only bind rootfs. The bind case also bind-mounts a file over an existing
 * target, as the CRI /etc/hosts mount does. Needs root; everything is removed in `after`.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  BIND_REQUIRED_DIRS,
  MesosProvisioner,
  missingMountTargets,
  type Provisioned,
} from '../../../pkg/mesos/provisioner/index.js';
import { unmount } from '../../../pkg/sys/index.js';
import { Fixture } from '../oci/fixture.js';
import { LayerSource, mountsBelow } from './layer-source.js';

let f: Fixture;
let src: LayerSource;
let work: string;
let layered: string;
let single: string;

before(async () => {
  f = await Fixture.create();
  src = await LayerSource.create();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-prov-runc-'));
  layered = await src.addFixture('busybox-layers');
  single = await src.addFixture('busybox');
});

after(async () => {
  await f?.cleanup();
  if (work) {
    for (const m of (await mountsBelow(work)).reverse()) await unmount(m, { lazy: true });
    await fs.rm(work, { recursive: true, force: true });
  }
  await src?.cleanup();
});

/** Runs `args` in a container on `prov.rootfs` and returns its exit code and stdout lines. */
async function runOn(
  prov: Provisioned,
  args: string[],
  opts: { readonly: boolean; hosts?: string },
): Promise<{ code: number; out: string[] }> {
  const b = await f.bundle(args, (spec) => {
    spec.root = { path: prov.rootfs, readonly: opts.readonly };
    if (opts.hosts) {
      spec.mounts?.push({ destination: '/etc/hosts', type: 'bind', source: opts.hosts, options: ['rbind', 'ro'] });
    }
  });
  const c = await f.createContainer(b);
  await f.runtime.start(b.id);
  const code = await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid });
  await f.runtime.delete(b.id);
  const log = await fs.readFile(b.logPath, 'utf8');
  const out = log
    .split('\n')
    .filter((l) => / stdout F /.test(l))
    .map((l) => l.replace(/^.* stdout F /, ''));
  return { code, out };
}

describe('runc on provisioned rootfses', () => {
  for (const backend of ['overlay', 'copy'] as const) {
    it(`${backend}: cat of a file from the top layer`, async () => {
      const p = new MesosProvisioner({ workDir: path.join(work, backend), source: src, backend });
      const prov = await p.provision(`runc-${backend}`, layered, { readonlyRootfs: false });
      const r = await runOn(prov, ['sh', '-c', 'cat /data/layer4.txt; echo w > /data/from-ctr'], { readonly: false });
      assert.equal(r.code, 0);
      assert.deepEqual(r.out, ['uncompressed layer']);
      assert.equal(await fs.readFile(path.join(prov.writableDir as string, 'data', 'from-ctr'), 'utf8'), 'w\n');
      await p.destroy(`runc-${backend}`);
      assert.deepEqual(await mountsBelow(path.join(work, backend)), []);
    });
  }

  it('bind: a read-only rootfs runs, with a file mount over an existing target', async () => {
    const p = new MesosProvisioner({ workDir: path.join(work, 'bind'), source: src, backend: 'bind' });
    const prov = await p.provision('runc-bind', single, { readonlyRootfs: true });
    assert.deepEqual(await missingMountTargets(prov.rootfs, [...BIND_REQUIRED_DIRS, '/etc/hosts', '/tmp']), []);
    assert.deepEqual(await missingMountTargets(prov.rootfs, ['/etc/no-such', '/usr/bin/env/x']), [
      '/etc/no-such',
      '/usr/bin/env/x',
    ]);
    const hosts = path.join(work, 'hosts');
    await fs.writeFile(hosts, '10.0.0.1 from-host\n');
    const r = await runOn(prov, ['sh', '-c', 'cat /etc/hostname /etc/hosts; touch /x 2>/dev/null || echo ro'], {
      readonly: true,
      hosts,
    });
    assert.equal(r.code, 0);
    assert.deepEqual(r.out, ['fixture', '10.0.0.1 from-host', 'ro']);

    // Why missingMountTargets exists: runc cannot create a missing target in a read-only rootfs.
    const bad = await f.bundle(['true'], (spec) => {
      spec.root = { path: prov.rootfs, readonly: true };
      spec.mounts?.push({ destination: '/etc/no-such', type: 'bind', source: hosts, options: ['rbind', 'ro'] });
    });
    await assert.rejects(f.createContainer(bad), /read-only file system/i);
    await p.destroy('runc-bind');
    assert.deepEqual(await mountsBelow(path.join(work, 'bind')), []);
  });
});
