/**
 * The image store directly (no daemon): recovery of an interrupted run (staging leftovers, a layer
 * directory without its metadata, an image whose layer vanished), GC of layers when the last image goes,
 * leases keeping a removed image's layers, concurrent pulls sharing one download, and a full disk
 * (a small tmpfs) → ResourceExhausted with nothing half-stored.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { LayerWorker } from '../../../pkg/image/index.js';
import { ImageStore } from '../../../pkg/mesos/index.js';
import { SMALL_PULL } from '../../../pkg/mesos/provisioner/stores/layer-store.js';
import { configureLogging, isKind } from '../../../pkg/util/index.js';
import { FakeRegistry } from '../../unit/image/fake-registry.js';
import { putTinyImage, type TinyImage } from '../../unit/image-store/tiny-image.js';

configureLogging({ silent: true });
const run = promisify(execFile);

describe('image store', () => {
  let fake: FakeRegistry;
  let tmp: string;
  let one: TinyImage;
  let two: TinyImage;
  before(async () => {
    fake = await new FakeRegistry().start();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-store-'));
    one = await putTinyImage(fake, 'app/one', 'v1', 'one');
    two = await putTinyImage(fake, 'app/two', 'v1', 'two');
  });
  after(async () => {
    await fake.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('shares one download between concurrent pulls of an image', async () => {
    const store = await ImageStore.open({ dir: path.join(tmp, 'concurrent') });
    const hits = fake.hits.length;
    const [a, b] = await Promise.all([store.pull(`${fake.host}/app/one:v1`), store.pull(`${fake.host}/app/one:v1`)]);
    assert.equal(a.id, one.configDigest);
    assert.equal(b.id, one.configDigest);
    const blobHits = fake.hits.slice(hits).filter((h) => h.path.endsWith(one.layerDigest));
    assert.equal(blobHits.length, 1);
  });

  it('applies layers on this thread while the worker thread starts, and in the worker once it is ready', async () => {
    type Internals = { layerStore: { worker: LayerWorker | undefined } };
    // Never ready: the layer must not wait for it, and the pull must still have started it.
    class NeverReady extends LayerWorker {
      warmed = 0;
      override get ready(): boolean {
        return false;
      }
      override warm(): void {
        this.warmed++;
      }
      override async apply(): Promise<undefined> {
        throw new Error('a thread that is not ready took a job');
      }
    }
    const starting = await ImageStore.open({ dir: path.join(tmp, 'worker-starting') });
    const never = new NeverReady();
    (starting as unknown as Internals).layerStore.worker = never;
    const a = await starting.pull(`${fake.host}/app/one:v1`);
    assert.equal(a.id, one.configDigest);
    assert.ok(never.warmed >= 1, 'the pull started the thread');
    const warmed = never.warmed;
    assert.equal((await starting.pull(`${fake.host}/app/one:v1`)).id, one.configDigest);
    assert.equal(never.warmed, warmed, 'a re-pull of a stored image does not start it');
    const dirs = (await starting.layers(a.id)).layerDirs;
    assert.equal(await fs.readFile(path.join(dirs[0]!, 'label.txt'), 'utf8'), 'one\n');

    // A large pull's layers wait for the thread instead: on this thread it costs more than the start-up.
    const big = await putTinyImage(fake, 'app/big', 'v1', 'big', { filler: randomBytes(SMALL_PULL + 65536) });
    const waiting = await ImageStore.open({ dir: path.join(tmp, 'worker-large') });
    const cold = new LayerWorker(60_000);
    (waiting as unknown as Internals).layerStore.worker = cold;
    let coldJobs = 0;
    const coldApply = cold.apply.bind(cold);
    cold.apply = (...args) => {
      coldJobs++;
      return coldApply(...args);
    };
    try {
      assert.ok(!cold.running);
      assert.equal((await waiting.pull(`${fake.host}/app/big:v1`)).id, big.configDigest);
      assert.equal(coldJobs, 1, "the large pull's layer went to the thread it started");
    } finally {
      await cold.close();
    }

    const readyStore = await ImageStore.open({ dir: path.join(tmp, 'worker-ready') });
    const w = new LayerWorker(60_000);
    (readyStore as unknown as Internals).layerStore.worker = w;
    let jobs = 0;
    const apply = w.apply.bind(w);
    w.apply = (...args) => {
      jobs++;
      return apply(...args);
    };
    try {
      w.warm();
      for (let i = 0; i < 400 && !w.ready; i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(w.ready);
      const b = await readyStore.pull(`${fake.host}/app/two:v1`);
      assert.equal(b.id, two.configDigest);
      assert.equal(jobs, 1, 'a ready thread takes the layer');
      const bDirs = (await readyStore.layers(b.id)).layerDirs;
      assert.equal(await fs.readFile(path.join(bDirs[0]!, 'label.txt'), 'utf8'), 'two\n');
    } finally {
      await w.close();
    }
  });

  it('hands out one frozen record per image state, and a new one when the image changes', async () => {
    const store = await ImageStore.open({ dir: path.join(tmp, 'shared'), layerWorker: false });
    const ref = `${fake.host}/app/one:v1`;
    const pulled = await store.pull(ref);
    const got = await store.get(ref);
    assert.ok(got && Object.isFrozen(got) && Object.isFrozen(got.repoTags) && Object.isFrozen(got.config));
    assert.equal(await store.get(ref), got, 'no copy per call');
    assert.equal(await store.get(got.id), got);
    assert.equal(pulled, got);
    const listed = await store.list();
    assert.equal(listed[0], got);
    listed.pop();
    assert.equal((await store.list()).length, 1, 'the caller owns the list');
    await store.pull(`${fake.host}/app/one:v1`.replace(':v1', ':v1'));
    assert.equal(await store.get(ref), got, 'a re-pull that changes nothing keeps the record');
    await store.remove(ref);
    assert.equal(await store.get(ref), undefined);
    assert.deepEqual(got.repoTags, [ref], 'what a caller holds does not change under it');
    assert.deepEqual(await store.list(), []);
  });

  it('keeps a removed image while leased, then collects its layers', async () => {
    const dir = path.join(tmp, 'lease');
    const store = await ImageStore.open({ dir });
    const img = await store.pull(`${fake.host}/app/two:v1`);
    await store.retain('ctr-1', img.id);
    await store.remove(img.id);
    assert.equal(await store.get(img.id), undefined, 'hidden from the CRI');
    const layers = await store.layers(img.id);
    assert.equal(await fs.readFile(path.join(layers.layerDirs[0]!, 'label.txt'), 'utf8'), 'two\n');
    await store.release('ctr-1');
    await assert.rejects(store.layers(img.id), (e: unknown) => isKind(e, 'NotFound'));
    assert.deepEqual(await fs.readdir(path.join(dir, 'layers')), []);
    assert.deepEqual(await fs.readdir(path.join(dir, 'blobs', 'sha256')), []);
  });

  it('keeps leases in memory: no index write per lease; after a restart only the leases taken again count', async () => {
    const dir = path.join(tmp, 'lease-restart');
    let store = await ImageStore.open({ dir });
    const img = await store.pull(`${fake.host}/app/two:v1`);
    const indexFile = path.join(dir, 'images.json');
    const before = await fs.stat(indexFile);
    await store.retain('ctr-1', img.id);
    await store.retain('ctr-2', img.id);
    await store.release('ctr-2');
    const afterLeases = await fs.stat(indexFile);
    assert.equal(afterLeases.ino, before.ino, 'retain and release of a named image rewrite no index');
    assert.equal(afterLeases.mtimeMs, before.mtimeMs);
    await store.remove(img.id);

    // A restart where the container is still there: its lease is taken again, the removed image stays.
    store = await ImageStore.open({ dir });
    await store.retain('ctr-1', img.id);
    await store.leasesRecovered();
    assert.ok((await store.layers(img.id)).layerDirs.length > 0, 'still held by ctr-1');

    // A restart where it is gone: nothing takes the lease again, so the image and its layers go.
    store = await ImageStore.open({ dir });
    await store.leasesRecovered();
    await assert.rejects(store.layers(img.id), (e: unknown) => isKind(e, 'NotFound'));
    assert.deepEqual(await fs.readdir(path.join(dir, 'layers')), []);
  });

  it('recovers: wipes staging, drops partial layers and images whose layers vanished', async () => {
    const dir = path.join(tmp, 'recover');
    let store = await ImageStore.open({ dir });
    await store.pull(`${fake.host}/app/one:v1`);
    await store.pull(`${fake.host}/app/two:v1`);
    await fs.mkdir(path.join(dir, 'staging', 'leftover', 'rootfs'), { recursive: true });
    await fs.mkdir(path.join(dir, 'layers', 'f'.repeat(64), 'rootfs'), { recursive: true });
    await fs.rm(path.join(dir, 'layers', two.diffId.slice(7)), { recursive: true });
    store = await ImageStore.open({ dir });
    assert.deepEqual(await fs.readdir(path.join(dir, 'staging')), []);
    assert.deepEqual(await fs.readdir(path.join(dir, 'layers')), [one.diffId.slice(7)]);
    assert.equal((await store.get(`${fake.host}/app/one:v1`))?.id, one.configDigest);
    assert.equal(await store.get(`${fake.host}/app/two:v1`), undefined);
  });

  it('keeps complete layers no image refers to at start-up for a retried pull, then collects them', async () => {
    // A finished layer of a pull that never completed: a complete layer directory that no image refers to.
    const donor = path.join(tmp, 'donor');
    await (await ImageStore.open({ dir: donor })).pull(`${fake.host}/app/one:v1`);
    const layer = one.diffId.slice(7);
    const orphanIn = async (dir: string) => {
      await fs.mkdir(path.join(dir, 'layers'), { recursive: true });
      await fs.cp(path.join(donor, 'layers', layer), path.join(dir, 'layers', layer), { recursive: true });
    };

    const dir = path.join(tmp, 'orphan');
    await orphanIn(dir);
    const store = await ImageStore.open({ dir });
    assert.deepEqual(await fs.readdir(path.join(dir, 'layers')), [layer], 'kept for a retry');
    const hits = fake.hits.length;
    assert.equal((await store.pull(`${fake.host}/app/one:v1`)).id, one.configDigest);
    const layerHits = fake.hits.slice(hits).filter((h) => h.path.endsWith(one.layerDigest));
    assert.equal(layerHits.length, 0, 'the kept layer is not fetched again');

    // Not taken up within the grace: collected by the timer, with no other store activity.
    const late = path.join(tmp, 'orphan-late');
    await orphanIn(late);
    await ImageStore.open({ dir: late, orphanGraceMs: 300 });
    assert.deepEqual(await fs.readdir(path.join(late, 'layers')), [layer]);
    for (let i = 0; i < 100 && (await fs.readdir(path.join(late, 'layers'))).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(await fs.readdir(path.join(late, 'layers')), [], 'collected once the grace ended');
  });

  it('fails with ResourceExhausted on a full disk and stores nothing', async (t) => {
    const dir = path.join(tmp, 'full');
    await fs.mkdir(dir);
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'ucri-test-full', dir]);
    } catch (err) {
      assert.fail(`mounting a tmpfs needs root: ${(err as Error).message}`);
    }
    t.after(() => run('umount', ['-l', dir]));
    // 64 KiB holds the store's skeleton but not a 300 KiB layer.
    const big = await putTinyImage(fake, 'app/big', 'v1', 'x'.repeat(300 * 1024));
    const store = await ImageStore.open({ dir });
    await assert.rejects(store.pull(`${fake.host}/app/big:v1`), (e: unknown) => {
      assert.ok(isKind(e, 'ResourceExhausted'), String(e));
      return true;
    });
    assert.equal(await store.get(big.configDigest), undefined);
    assert.deepEqual(await fs.readdir(path.join(dir, 'layers')), []);
    assert.deepEqual(await fs.readdir(path.join(dir, 'staging')), []);
  });
});
