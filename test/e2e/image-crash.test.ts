/**
 * A pull killed with SIGKILL mid-way: a real `ucri serve` pulls a large multi-layer image from a real
 * registry and is killed as soon as its progress shows one layer stored and bytes still missing; the restarted
 * daemon must recover a clean store (no staging leftovers, no partial layers, the image either complete or
 * absent) and pull the image again, reusing the layers the killed pull had finished (kept for a grace period
 * instead of being fetched again).
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildCatalogue, pushCatalogue } from '../../hack/images/index.js';
import { ImagesClient } from '../../pkg/cri/client.js';
import type { PullImageProgress } from '../../pkg/cri/gen/ucri/v1/ucri.js';
import { grpc } from '../support/cri-client.js';
import { startDaemon, type TestDaemon } from '../support/daemon.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';

describe('SIGKILL mid-pull', () => {
  let reg: RunningRegistry;
  let tmp: string;
  let ref: string;
  let configDigest: string;
  let diffIds: string[];
  let d: TestDaemon | undefined;
  let first: TestDaemon | undefined;

  before(async () => {
    reg = await startRegistry();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-crash-'));
    const build = await buildCatalogue(tmp, { large: { layers: 8, mib: 4 } });
    const pushed = await pushCatalogue(build, reg.host, { names: ['large'] });
    ref = pushed.get('large')!.reference;
    const large = build.fixtures.get('large')!.built;
    assert.equal(large.kind, 'image');
    configDigest = large.configBlob.digest;
    diffIds = large.layers.map((l) => l.diffId);
  });
  after(async () => {
    await d?.stop();
    // Both daemons share one root: cleanup() unmounts and removes it, and each removes its own cgroups root.
    await d?.cleanup();
    await first?.cleanup();
    await fs.rm(tmp, { recursive: true, force: true });
    await reg?.stop();
  });

  it('recovers a clean store and pulls again', async (t) => {
    first = await startDaemon();
    d = first;
    const client = new ImagesClient(`unix://${d.socket}`, grpc.credentials.createInsecure());
    const killed = new Promise<void>((resolve, reject) => {
      const call = client.pullImage({ image: ref, username: '', password: '' });
      let fired = false;
      call.on('data', (p: PullImageProgress) => {
        if (!fired && p.extractedLayers >= 1 && p.downloadedBytes < p.totalBytes) {
          fired = true;
          d!.kill9().then(resolve, reject);
        }
      });
      call.on('error', () => {
        if (!fired) reject(new Error('pull failed before it could be killed'));
      });
      call.on('end', () => {
        if (!fired) d!.kill9().then(resolve, reject);
      });
    });
    await killed;
    client.close();

    d = await startDaemon({ root: first.root });
    const store = path.join(d.workDir, 'store', 'docker');
    assert.deepEqual(await fs.readdir(path.join(store, 'staging')), []);
    assert.deepEqual(await fs.readdir(path.join(store, 'gc')), []);
    const layers = await fs.readdir(path.join(store, 'layers'));
    for (const l of layers) assert.ok(existsSync(path.join(store, 'layers', l, 'layer.json')), `layer ${l} complete`);
    const c = d.client();
    const listed = await c.image.listImages({ filter: undefined });
    if (listed.images.some((i) => i.id === configDigest)) {
      assert.deepEqual(layers.sort(), diffIds.map((x) => x.slice(7)).sort());
    } else {
      assert.ok(layers.length >= 1, 'the layers the killed pull had finished are kept for a retry');
      t.diagnostic(`killed mid-pull: the image was absent after restart, ${layers.length} layers kept`);
    }
    // The inode of each kept layer directory: a layer fetched again would be renamed in from staging anew.
    const inodes = new Map<string, number>();
    for (const l of layers) inodes.set(l, (await fs.stat(path.join(store, 'layers', l))).ino);

    const res = await c.image.pullImage({
      image: { image: ref, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
      auth: undefined,
      sandboxConfig: undefined,
    });
    assert.equal(res.imageRef, configDigest);
    assert.deepEqual(
      (await fs.readdir(path.join(store, 'layers'))).sort(),
      [...new Set(diffIds.map((x) => x.slice(7)))].sort(),
    );
    for (const [l, ino] of inodes) {
      assert.equal((await fs.stat(path.join(store, 'layers', l))).ino, ino, `layer ${l} reused, not fetched again`);
    }
    const fsInfo = await c.image.imageFsInfo({});
    assert.ok(fsInfo.imageFilesystems[0]!.usedBytes!.value > BigInt(8 * 4 * 1024 * 1024));
  });
});
