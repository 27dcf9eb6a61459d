/**
 * PullImage against a registry that misbehaves, through a real `ucri serve`: a layer with the declared size
 * and the wrong digest fails both of two concurrent pulls with INTERNAL, and a blob that stalls mid-way is
 * cancelled after `--image_pull_progress_timeout`; either way nothing is stored.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CriClient, grpc, statusOf } from '../support/cri-client.js';
import { startDaemon, type TestDaemon } from '../support/daemon.js';
import { FakeRegistry } from '../unit/image/fake-registry.js';
import { putTinyImage } from '../unit/image-store/tiny-image.js';

describe('pulls from a misbehaving registry', () => {
  let fake: FakeRegistry;
  let d: TestDaemon;
  let c: CriClient;
  const store = (sub: string) => path.join(d.workDir, 'store', 'docker', sub);

  before(async () => {
    fake = await new FakeRegistry().start();
    // The layers' trace says where each layer was applied (the control case below).
    d = await startDaemon({ flags: ['--image_pull_progress_timeout=2s', '--trace=mesos/store/layers'] });
    c = d.client();
  });
  after(async () => {
    await d?.stop();
    await d?.cleanup();
    await fake?.stop();
  });

  const pull = (image: string) =>
    c.image.pullImage({
      image: { image, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
      auth: undefined,
      sandboxConfig: undefined,
    });

  /** Two concurrent pulls of `image`; both must fail with `code`, message matching `message`. */
  async function bothFail(image: string, code: grpc.status, message: RegExp): Promise<void> {
    const results = await Promise.allSettled([pull(image), pull(image)]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.equal(statusOf(r.reason), code, String(r.reason));
      assert.match((r.reason as Error).message, message);
    }
    assert.deepEqual(await fs.readdir(store('layers')), []);
    assert.deepEqual(await fs.readdir(store('staging')), []);
    assert.deepEqual((await c.image.listImages({ filter: undefined })).images, []);
  }

  it('pulls a sound layer over SMALL_PULL in the layer worker (the control: the bundle runs its worker file)', {
    timeout: 120_000,
  }, async () => {
    await putTinyImage(fake, 'app/sound', 'v1', 'sound', { filler: randomBytes(5 << 20) });
    const r = await pull(`${fake.host}/app/sound:v1`);
    assert.match(r.imageRef, /^sha256:/);
    const stored = d
      .output()
      .split('\n')
      .filter((l) => l.includes('"layer stored"'));
    assert.equal(stored.length, 1, d.output().slice(-2000));
    assert.equal(JSON.parse(stored[0]!).on, 'worker', stored[0]);
    await c.image.removeImage({
      image: { image: r.imageRef, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
    });
  });

  it('answers INTERNAL to every pull of a layer with the right size and the wrong digest', {
    timeout: 120_000,
  }, async () => {
    await putTinyImage(fake, 'app/wrong-digest', 'v1', 'bad', { corruptLayer: true, filler: randomBytes(4 << 20) });
    await bothFail(`${fake.host}/app/wrong-digest:v1`, grpc.status.INTERNAL, /does not match its descriptor/);
  });

  it('cancels pulls that make no progress for image_pull_progress_timeout', { timeout: 120_000 }, async () => {
    const img = await putTinyImage(fake, 'app/stalls', 'v1', 'stalls', { filler: randomBytes(1 << 20) });
    fake.stallAfter.set(img.layerDigest, fake.blobs.get(img.layerDigest)!.length >> 1);
    await bothFail(
      `${fake.host}/app/stalls:v1`,
      grpc.status.DEADLINE_EXCEEDED,
      /no progress for 2 s \(image_pull_progress_timeout\)/,
    );
  });
});
