/**
 * Pulls that must end, whatever the registry does: a layer blob with the declared size but the wrong digest
 * fails every pull waiting on it (joined ones too) with Internal and stores nothing; a blob that stalls
 * mid-way is cancelled once no progress was made for the configured progress timeout. The small blobs a pull
 * writes while its layers download (manifest, config) are left by a failed pull to the next GC, as its
 * complete layers are: the one at start-up removes them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImageStore } from '../../../pkg/mesos/index.js';
import { configureLogging, isKind } from '../../../pkg/util/index.js';
import { FakeRegistry } from '../../unit/image/fake-registry.js';
import { putTinyImage } from '../../unit/image-store/tiny-image.js';

configureLogging({ silent: true });

/**
 * Asserts that the store holds no layer, no staging leftover and not the image, and that once it is opened
 * again (its GC at start-up) no blob either.
 */
async function assertNothingStored(store: ImageStore, dir: string, imageId: string): Promise<void> {
  assert.equal(await store.get(imageId), undefined);
  assert.deepEqual(await fs.readdir(path.join(dir, 'layers')), []);
  assert.deepEqual(await fs.readdir(path.join(dir, 'staging')), []);
  const reopened = await ImageStore.open({ dir });
  assert.equal(await reopened.get(imageId), undefined);
  assert.deepEqual(await fs.readdir(path.join(dir, 'blobs', 'sha256')), []);
}

describe('pulls that cannot complete', () => {
  let fake: FakeRegistry;
  let tmp: string;
  before(async () => {
    fake = await new FakeRegistry().start();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-pullfail-'));
  });
  after(async () => {
    await fake.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('fails every joined pull of a layer with the right size and the wrong digest', { timeout: 60_000 }, async () => {
    // Incompressible, so the blob arrives in many chunks and the reader still has some buffered when the
    // verifier finds the mismatch at the end.
    const bad = await putTinyImage(fake, 'app/wrong-digest', 'v1', 'bad', {
      corruptLayer: true,
      filler: randomBytes(4 << 20),
    });
    const dir = path.join(tmp, 'digest');
    const store = await ImageStore.open({ dir });
    const ref = `${fake.host}/app/wrong-digest:v1`;
    const results = await Promise.allSettled([store.pull(ref), store.pull(ref)]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(isKind(r.reason, 'Internal'), String(r.reason));
      assert.match(String(r.reason), /does not match its descriptor/);
    }
    const blobHits = fake.hits.filter((h) => h.path.endsWith(bad.layerDigest));
    assert.equal(blobHits.length, 1, 'the second pull joined the first');
    await assertNothingStored(store, dir, bad.configDigest);
  });

  it('cancels a pull, and the pulls joined to it, when a blob stalls mid-way', { timeout: 60_000 }, async () => {
    const img = await putTinyImage(fake, 'app/stalls', 'v1', 'stalls', { filler: randomBytes(1 << 20) });
    const blob = fake.blobs.get(img.layerDigest)!;
    fake.stallAfter.set(img.layerDigest, blob.length >> 1);
    const dir = path.join(tmp, 'stall');
    const store = await ImageStore.open({ dir, progressTimeoutMs: 1500 });
    const ref = `${fake.host}/app/stalls:v1`;
    const results = await Promise.allSettled([store.pull(ref), store.pull(ref)]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(isKind(r.reason, 'DeadlineExceeded'), String(r.reason));
      assert.match(String(r.reason), /app\/stalls:v1.*no progress for 1\.5 s \(image_pull_progress_timeout\)/);
    }
    await assertNothingStored(store, dir, img.configDigest);
  });

  it('fetches the manifest of a tag once per pull', { timeout: 60_000 }, async () => {
    const img = await putTinyImage(fake, 'app/once', 'v1', 'once');
    const store = await ImageStore.open({ dir: path.join(tmp, 'once') });
    const before = fake.hits.length;
    const got = await store.pull(`${fake.host}/app/once:v1`);
    assert.equal(got.id, img.configDigest);
    const manifests = fake.hits.slice(before).filter((h) => h.path.includes('/manifests/'));
    assert.deepEqual(
      manifests.map((h) => h.path),
      ['/v2/app/once/manifests/v1'],
    );
  });

  it('lets a slow download that keeps moving run longer than the progress timeout', { timeout: 60_000 }, async () => {
    const img = await putTinyImage(fake, 'app/slow', 'v1', 'slow', { filler: randomBytes(256 << 10) });
    // About 4 s in all, a piece every 100 ms: far longer than the timeout, never silent for long.
    fake.trickle.set(img.layerDigest, 40);
    const store = await ImageStore.open({ dir: path.join(tmp, 'slow'), progressTimeoutMs: 2000 });
    const got = await store.pull(`${fake.host}/app/slow:v1`);
    assert.equal(got.id, img.configDigest);
  });
});
