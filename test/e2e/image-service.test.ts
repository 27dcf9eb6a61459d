/**
 * The CRI ImageService of a real `ucri serve` against a real registry (plus an in-process fake registry for
 * moved tags and corrupted blobs): pulls by tag, digest and platform, a registry mirror for
 * registry.k8s.io, ImageStatus/ListImages/RemoveImage name semantics, ImageFsInfo, the error codes, and the
 * `ucri pull` / `ucri images` client verbs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from '../../hack/registry/index.js';
import { type CriClient, grpc, type ImageSpec, statusOf } from '../support/cri-client.js';
import { startDaemon, type TestDaemon, UCRI_MAIN } from '../support/daemon.js';
import { type FixtureImage, type FixtureName, fixtureImages } from '../support/images.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { FakeRegistry } from '../unit/image/fake-registry.js';
import { putTinyImage } from '../unit/image-store/tiny-image.js';

const run = promisify(execFile);
const spec = (image: string): ImageSpec => ({
  image,
  annotations: {},
  userSpecifiedImage: '',
  runtimeHandler: '',
  imageRef: '',
});

describe('image service', () => {
  let reg: RunningRegistry;
  let fake: FakeRegistry;
  let fx: Record<FixtureName, FixtureImage>;
  let d: TestDaemon;
  let c: CriClient;
  const layersDir = () => path.join(d.workDir, 'store', 'docker', 'layers');

  before(async () => {
    reg = await startRegistry();
    fake = await new FakeRegistry().start();
    fx = await fixtureImages(reg);
    d = await startDaemon({ configToml: `[registry.mirrors."registry.k8s.io"]\nendpoints = ["${reg.url}"]\n` });
    c = d.client();
  });
  after(async () => {
    await d?.stop();
    await d?.cleanup();
    await fake?.stop();
    await reg?.stop();
  });

  const pull = async (image: string) =>
    (await c.image.pullImage({ image: spec(image), auth: undefined, sandboxConfig: undefined })).imageRef;
  const status = async (image: string, verbose = false) => c.image.imageStatus({ image: spec(image), verbose });

  it('pulls by tag and reports the image', async () => {
    const id = await pull(fx.busybox.ref);
    assert.equal(id, fx.busybox.configDigest);
    const st = await status(fx.busybox.ref);
    assert.equal(st.image?.id, id);
    assert.deepEqual(st.image?.repoTags, [fx.busybox.ref]);
    assert.deepEqual(st.image?.repoDigests, [fx.busybox.refByDigest]);
    assert.equal(st.image?.size, BigInt(fx.busybox.layers.reduce((n, l) => n + l.size, 0)));
    assert.equal(st.image?.uid, undefined);
    assert.equal(st.image?.username, '');
    assert.deepEqual(st.info, {});
    // Also found by id, by unique id prefix and by digest reference.
    assert.equal((await status(id)).image?.id, id);
    assert.equal((await status(id.slice(7, 20))).image?.id, id);
    assert.equal((await status(fx.busybox.refByDigest)).image?.id, id);
  });

  it('pulls by digest', async () => {
    const id = await pull(fx['busybox-oci'].refByDigest);
    assert.equal(id, fx['busybox-oci'].configDigest);
    // busybox-oci has busybox's config: one image, now also named by this digest, with no new tag.
    const st = await status(fx['busybox-oci'].refByDigest);
    assert.equal(st.image?.id, fx.busybox.configDigest);
    assert.ok(st.image?.repoDigests.includes(fx['busybox-oci'].refByDigest));
    assert.ok(!st.image?.repoTags.some((t) => t.includes('busybox-oci')));
  });

  it('selects the linux/amd64 image of an OCI index and of a Docker manifest list', async () => {
    assert.equal(await pull(fx.multiarch.ref), fx.multiarch.configDigest);
    assert.equal(await pull(fx['multiarch-docker'].ref), fx['multiarch-docker'].configDigest);
    const st = await status(fx.multiarch.ref);
    assert.ok(st.image?.repoDigests.includes(fx.multiarch.refByDigest));
    assert.ok(st.image?.repoDigests.includes(fx['multiarch-docker'].refByDigest));
  });

  it('reports the image user as uid or username, and verbose info', async () => {
    await pull(fx['busybox-user'].ref);
    await pull(fx['busybox-user-numeric'].ref);
    const named = await status(fx['busybox-user'].ref, true);
    assert.equal(named.image?.username, 'test');
    assert.equal(named.image?.uid, undefined);
    const info = JSON.parse(named.info.info ?? '{}') as { config?: { user?: string }; layers?: string[] };
    assert.equal(info.config?.user, 'test');
    assert.deepEqual(
      info.layers,
      fx['busybox-user'].layers.map((l) => l.diffId),
    );
    const numeric = await status(fx['busybox-user-numeric'].ref);
    assert.equal(numeric.image?.uid?.value, 1002n);
    assert.equal(numeric.image?.username, '');
  });

  it('serves registry.k8s.io from the configured mirror', async () => {
    const name = 'registry.k8s.io/e2e-test-images/busybox:latest';
    assert.equal(await pull(name), fx.busybox.configDigest);
    const list = await c.image.listImages({ filter: { image: spec(name) } });
    assert.equal(list.images.length, 1);
    assert.ok(list.images[0]?.repoTags.includes(name));
    assert.ok(list.images[0]?.repoTags.includes(fx.busybox.ref), 'one image, two tags');
  });

  it('removes one tag at a time, then the image by id; absent images are no error', async () => {
    const mirrorName = 'registry.k8s.io/e2e-test-images/busybox:latest';
    await c.image.removeImage({ image: spec(mirrorName) });
    assert.equal((await status(mirrorName)).image, undefined);
    assert.deepEqual((await status(fx.busybox.ref)).image?.repoTags, [fx.busybox.ref]);
    await c.image.removeImage({ image: spec(fx.busybox.configDigest) });
    assert.equal((await status(fx.busybox.ref)).image, undefined);
    assert.equal((await status(fx.busybox.refByDigest)).image, undefined);
    await c.image.removeImage({ image: spec(fx.busybox.ref) });
    const all = await c.image.listImages({ filter: undefined });
    assert.ok(!all.images.some((i) => i.id === fx.busybox.configDigest));
  });

  it('removes the image with its last tag, leaving no untagged image behind', async () => {
    const fxEnv = fx['busybox-env'];
    await pull(fxEnv.ref);
    assert.ok((await status(fxEnv.refByDigest)).image, 'known by digest too');
    await c.image.removeImage({ image: spec(fxEnv.ref) });
    assert.equal((await status(fxEnv.refByDigest)).image, undefined);
    const all = await c.image.listImages({ filter: undefined });
    assert.ok(!all.images.some((i) => i.id === fxEnv.configDigest));
  });

  it('reports image filesystem usage that grows with a pull', async () => {
    const before = (await c.image.imageFsInfo({})).imageFilesystems[0];
    assert.ok(before && before.usedBytes!.value > 0n && before.inodesUsed!.value > 0n);
    assert.equal(before.fsId?.mountpoint, path.join(d.workDir, 'store', 'docker'));
    await pull(fx['busybox-httpd'].ref);
    const now = (await c.image.imageFsInfo({})).imageFilesystems[0];
    assert.ok(now!.usedBytes!.value > before.usedBytes!.value);
    assert.ok(now!.inodesUsed!.value > before.inodesUsed!.value);
  });

  it('re-points a moved tag; the old image keeps its digest name', async () => {
    const v1 = await putTinyImage(fake, 'app/moving', 'v1', 'one');
    assert.equal(await pull(`${fake.host}/app/moving:v1`), v1.configDigest);
    const v2 = await putTinyImage(fake, 'app/moving', 'v1', 'two');
    assert.equal(await pull(`${fake.host}/app/moving:v1`), v2.configDigest);
    assert.equal((await status(`${fake.host}/app/moving:v1`)).image?.id, v2.configDigest);
    const old = await status(v1.configDigest);
    assert.deepEqual(old.image?.repoTags, []);
    assert.deepEqual(old.image?.repoDigests, [`${fake.host}/app/moving@${v1.manifestDigest}`]);
    // A second pull of an unchanged tag fetches only the manifest.
    const hits = fake.hits.length;
    assert.equal(await pull(`${fake.host}/app/moving:v1`), v2.configDigest);
    assert.deepEqual(
      fake.hits.slice(hits).map((h) => h.path),
      ['/v2/app/moving/manifests/v1'],
    );
  });

  it('refuses a corrupted layer blob and stores nothing of it', async () => {
    const layersBefore = (await fs.readdir(layersDir())).sort();
    const bad = await putTinyImage(fake, 'app/corrupt', 'v1', 'corrupt', { corruptLayer: true });
    await assert.rejects(pull(`${fake.host}/app/corrupt:v1`), (err: unknown) => {
      assert.equal(statusOf(err), grpc.status.INTERNAL);
      assert.match((err as Error).message, /does not match its descriptor/);
      return true;
    });
    assert.equal((await status(bad.configDigest)).image, undefined);
    assert.deepEqual((await fs.readdir(layersDir())).sort(), layersBefore);
    assert.deepEqual(await fs.readdir(path.join(d.workDir, 'store', 'docker', 'staging')), []);
  });

  it('answers NOT_FOUND for an unknown image and UNAVAILABLE for an unreachable registry', async () => {
    await assert.rejects(pull(`${reg.host}/e2e-test-images/no-such-image:latest`), (err: unknown) => {
      assert.equal(statusOf(err), grpc.status.NOT_FOUND);
      return true;
    });
    const port = await freePort();
    await assert.rejects(pull(`127.0.0.1:${port}/nobody/home:1`), (err: unknown) => {
      assert.equal(statusOf(err), grpc.status.UNAVAILABLE);
      assert.match((err as Error).message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      return true;
    });
  });

  it('validates requests', async () => {
    await assert.rejects(pull(''), (err: unknown) => {
      assert.equal(statusOf(err), grpc.status.INVALID_ARGUMENT);
      assert.match((err as Error).message, /image\.image/);
      return true;
    });
    await assert.rejects(pull('UPPER/case'), (err: unknown) => {
      assert.equal(statusOf(err), grpc.status.INVALID_ARGUMENT);
      return true;
    });
  });

  it('ucri pull prints plain progress lines off a terminal, and ucri images lists like crictl', async () => {
    const out = await run(process.execPath, [UCRI_MAIN, 'pull', `--socket=${d.socket}`, fx['busybox-env'].ref]);
    assert.match(out.stdout, /^resolving/m);
    assert.match(out.stdout, /^done layers 2\/2/m);
    assert.match(out.stdout, new RegExp(`Image is up to date for ${fx['busybox-env'].configDigest}`));
    const list = await run(process.execPath, [UCRI_MAIN, 'images', '--socket', d.socket]);
    const lines = list.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^IMAGE\s+TAG\s+IMAGE ID\s+SIZE$/);
    const row = lines.find((l) => l.startsWith(`${reg.host}/e2e-test-images/busybox-env `));
    assert.ok(row, list.stdout);
    assert.match(row, new RegExp(`\\s+latest\\s+${fx['busybox-env'].configDigest.slice(7, 20)}\\s+[0-9.]+ [KM]iB$`));
  });
});
