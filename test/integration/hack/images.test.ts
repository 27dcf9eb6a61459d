/**
 * The offline image builder, checked without a registry: reproducible digests, layer contents (whiteouts,
 * opaque dirs, hard links, setuid, owners), digest/diff_id relations for every compression, the legacy docker
 * archive layout, and that skopeo (an independent implementation) reads the OCI layout, OCI archive and docker
 * archive of every fixture.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import {
  buildCatalogue,
  fixtureCatalogue,
  ImageBuilder,
  BlobStore,
  imageManifest,
  Layer,
  largeFixture,
  loadBusybox,
  type BuiltImage,
} from '../../../hack/images/index.js';
import { FIXTURE_NAMES, fixtureArchives, fixtureBuild, type LocalFixture } from '../../support/images.js';

const run = promisify(execFile);

interface TarItem {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  linkname: string;
  data: Buffer;
}

async function readTar(data: Buffer): Promise<Map<string, TarItem>> {
  const items = new Map<string, TarItem>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        const name = h.name.replace(/\/$/, '');
        items.set(name, {
          name,
          type: h.type,
          mode: h.mode,
          uid: h.uid,
          gid: h.gid,
          linkname: h.linkname ?? '',
          data: Buffer.concat(chunks),
        });
        next();
      });
      stream.resume();
    });
    ex.on('finish', () => resolve());
    ex.on('error', reject);
  });
  ex.end(data);
  await done;
  return items;
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let fixtures: Record<(typeof FIXTURE_NAMES)[number], LocalFixture>;
const scratch: string[] = [];

before(async () => {
  fixtures = await fixtureArchives();
});

after(async () => {
  for (const d of scratch) await fs.rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-images-test-'));
  scratch.push(d);
  return d;
}

describe('catalogue', () => {
  test('names match the support list', async () => {
    const defs = await fixtureCatalogue();
    assert.deepEqual(
      defs.map((d) => d.name),
      [...FIXTURE_NAMES],
    );
  });

  test('a second build gives byte-identical digests', async () => {
    const again = await buildCatalogue(await tempDir());
    const first = await fixtureBuild();
    for (const [name, f] of first.fixtures) {
      const g = again.fixtures.get(name);
      assert.ok(g, name);
      assert.equal(g.ociDigest, f.ociDigest, name);
      const [a, b] = [await fs.readFile(f.paths.dockerArchive), await fs.readFile(g.paths.dockerArchive)];
      assert.equal(sha(a), sha(b), `${name} docker archive`);
      const [c, d] = [await fs.readFile(f.paths.ociArchive), await fs.readFile(g.paths.ociArchive)];
      assert.equal(sha(c), sha(d), `${name} oci archive`);
    }
  });
});

describe('layers', () => {
  test('every blob hashes to its digest and decompresses to its diff_id', async () => {
    const build = await fixtureBuild();
    for (const f of Object.values(fixtures)) {
      for (const p of f.platforms) {
        const config = await fs.readFile(build.store.path('blob', p.configDigest));
        assert.equal(sha(config), p.configDigest);
        assert.deepEqual(
          JSON.parse(config.toString()).rootfs.diff_ids,
          p.layers.map((l) => l.diffId),
        );
        for (const l of p.layers) {
          const blob = await fs.readFile(build.store.path('blob', l.digest));
          assert.equal(sha(blob), l.digest);
          assert.equal(blob.byteLength, l.size);
          let plain: Buffer;
          if (l.compression === 'gzip') plain = gunzipSync(blob);
          else if (l.compression === 'zstd') {
            plain = (
              await run('zstd', ['-d', '-c', build.store.path('blob', l.digest)], {
                encoding: 'buffer',
                maxBuffer: 1 << 26,
              })
            ).stdout;
          } else plain = blob;
          assert.equal(sha(plain), l.diffId, `${f.name} ${l.digest}`);
        }
      }
    }
  });

  test('busybox base has the applets, users and modes tests rely on', async () => {
    const build = await fixtureBuild();
    const base = fixtures.busybox.layers[0];
    assert.ok(base);
    const items = await readTar(await fs.readFile(build.store.path('diff', base.diffId)));
    assert.equal(items.get('bin/busybox')?.mode, 0o755);
    for (const a of ['sh', 'ls', 'httpd', 'nc', 'sleep', '['])
      assert.equal(items.get(`bin/${a}`)?.linkname, 'busybox', a);
    assert.equal(items.get('tmp')?.mode, 0o1777);
    const passwd = items.get('etc/passwd')?.data.toString() ?? '';
    assert.match(passwd, /^test:x:1002:1003:/m);
    assert.match(passwd, /^www-data:x:33:33:/m);
    assert.match(items.get('etc/group')?.data.toString() ?? '', /^extra:x:50000:test$/m);
    for (const i of items.values()) assert.ok(!i.name.startsWith('/') && !i.name.includes('..'), i.name);
  });

  test('busybox-layers carries whiteouts, an opaque dir, a hard link, setuid and owners', async () => {
    const build = await fixtureBuild();
    const ls = fixtures['busybox-layers'].layers;
    assert.equal(ls.length, 4);
    assert.deepEqual(
      ls.map((l) => l.compression),
      ['gzip', 'gzip', 'gzip', 'none'],
    );
    const l2 = await readTar(await fs.readFile(build.store.path('diff', ls[1]?.diffId ?? '')));
    assert.equal(l2.get('data/owned')?.uid, 1002);
    assert.equal(l2.get('data/owned')?.mode, 0o750);
    const l3 = await readTar(await fs.readFile(build.store.path('diff', ls[2]?.diffId ?? '')));
    assert.equal(l3.get('data/.wh.remove-me.txt')?.type, 'file');
    assert.equal(l3.get('data/.wh.dir-removed')?.type, 'file');
    assert.equal(l3.get('data/opaque/.wh..wh..opq')?.type, 'file');
    assert.equal(l3.get('data/hardlink-dst.txt')?.type, 'link');
    assert.equal(l3.get('data/hardlink-dst.txt')?.linkname, 'data/hardlink-src.txt');
    assert.equal(l3.get('bin/setuid-file')?.mode, 0o4755);
    assert.equal(l3.get('data/link-abs')?.linkname, '/data/keep.txt');
    assert.equal(l3.get('data/replaced.txt')?.data.toString(), 'v2\n');
  });

  test('bad layer input is refused', () => {
    assert.throws(() => new Layer().file('../etc/passwd', 'x'), /invalid layer path/);
    assert.throws(() => new Layer().file('a//b', 'x'), /invalid layer path/);
    assert.throws(() => new Layer().hardlink('a', 'b'), /not a file of this layer/);
    assert.throws(() => new Layer().file('a', 'x').file('a', 'y'), /declared twice/);
  });

  test('a docker manifest refuses zstd layers', async () => {
    const store = new BlobStore(path.join(await tempDir(), 'store'));
    await store.init();
    const img = (await new ImageBuilder(store).build({
      kind: 'image',
      config: {},
      layers: [new Layer({ compression: 'zstd' }).file('x', 'y')],
    })) as BuiltImage;
    await assert.rejects(imageManifest(store, img, 'docker'), /no zstd layer media type/);
    assert.equal((await imageManifest(store, img, 'oci')).mediaType, 'application/vnd.oci.image.manifest.v1+json');
  });

  test('the large generator is deterministic and streams its data', async () => {
    const base = new Layer().file('base.txt', 'base\n');
    const builds: BuiltImage[] = [];
    for (let i = 0; i < 2; i++) {
      const store = new BlobStore(path.join(await tempDir(), 'store'));
      await store.init();
      const def = largeFixture(base, { layers: 2, mib: 1.5, compression: 'none' });
      builds.push((await new ImageBuilder(store).build(def.spec)) as BuiltImage);
      const noiseLayer = builds[i]?.layers[1];
      assert.ok(noiseLayer);
      const items = await readTar(await fs.readFile(store.path('diff', noiseLayer.diffId)));
      assert.equal(items.get('large/layer-0.bin')?.data.byteLength, 1.5 * 1024 * 1024);
    }
    assert.deepEqual(
      builds[0]?.layers.map((l) => l.digest),
      builds[1]?.layers.map((l) => l.digest),
    );
    assert.notEqual(builds[0]?.layers[1]?.digest, builds[0]?.layers[2]?.digest);
    assert.throws(() => largeFixture(base, { layers: 0, mib: 1 }), /layer count 0/);
  });

  test('a missing busybox is a clear error', async () => {
    await assert.rejects(loadBusybox('/nonexistent/busybox'), /install the Debian package "busybox-static"/);
  });
});

describe('archives', () => {
  test('docker archive follows the legacy layout', async () => {
    const f = fixtures['busybox-env'];
    const items = await readTar(await fs.readFile(f.paths.dockerArchive));
    const manifest = JSON.parse(items.get('manifest.json')?.data.toString() ?? '') as Array<{
      Config: string;
      RepoTags: string[];
      Layers: string[];
    }>;
    assert.deepEqual(manifest[0]?.RepoTags, ['busybox-env:latest']);
    assert.equal(sha(items.get(manifest[0]?.Config ?? '')?.data ?? Buffer.alloc(0)), f.configDigest);
    const repos = JSON.parse(items.get('repositories')?.data.toString() ?? '') as Record<
      string,
      Record<string, string>
    >;
    // Walk parent links from the top as the Mesos tar puller does.
    const chain: string[] = [];
    for (let id: string | undefined = repos['busybox-env']?.latest; id; ) {
      chain.unshift(id);
      assert.equal(items.get(`${id}/VERSION`)?.data.toString(), '1.0');
      const json = JSON.parse(items.get(`${id}/json`)?.data.toString() ?? '') as {
        parent?: string;
        config?: { WorkingDir?: string };
      };
      if (chain.length === 1) assert.equal(json.config?.WorkingDir, '/work');
      id = json.parent;
    }
    assert.deepEqual(
      chain.map((id) => `${id}/layer.tar`),
      manifest[0]?.Layers,
    );
    assert.deepEqual(
      chain.map((id) => sha(items.get(`${id}/layer.tar`)?.data ?? Buffer.alloc(0))),
      f.layers.map((l) => l.diffId),
    );
    assert.equal((await fs.stat(f.paths.mesosArchive)).ino, (await fs.stat(f.paths.dockerArchive)).ino);
  });

  for (const name of FIXTURE_NAMES) {
    test(`skopeo reads ${name} from the OCI layout, OCI archive and docker archive`, async () => {
      const f = fixtures[name];
      const raw = (await run('skopeo', ['inspect', '--raw', `oci:${f.paths.ociLayout}:latest`])).stdout;
      assert.equal(sha(Buffer.from(raw)), f.ociDigest);
      const dir1 = path.join(await tempDir(), 'oci');
      await run('skopeo', ['copy', '-q', `oci-archive:${f.paths.ociArchive}:latest`, `dir:${dir1}`]);
      const m1 = JSON.parse(await fs.readFile(path.join(dir1, 'manifest.json'), 'utf8')) as {
        config: { digest: string };
      };
      assert.equal(m1.config.digest, f.configDigest);
      const dir2 = path.join(await tempDir(), 'docker');
      await run('skopeo', ['copy', '-q', `docker-archive:${f.paths.dockerArchive}`, `dir:${dir2}`]);
      const m2 = JSON.parse(await fs.readFile(path.join(dir2, 'manifest.json'), 'utf8')) as {
        config: { digest: string };
        layers: Array<{ digest: string }>;
      };
      assert.equal(m2.config.digest, f.configDigest);
      // docker archives ship uncompressed layers, so their digests are the diff_ids.
      assert.deepEqual(
        m2.layers.map((l) => l.digest),
        f.layers.map((l) => l.diffId),
      );
    });
  }
});
