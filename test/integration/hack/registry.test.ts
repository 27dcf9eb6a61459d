/**
 * The local registry and the push: a real Debian docker-registry on 127.0.0.1 receives the whole catalogue,
 * and its own API and skopeo confirm what it holds. A second registry with htpasswd auth turns away
 * anonymous and wrong callers and serves the right one.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { RegistryClient } from '../../../hack/images/index.js';
import { startRegistry as startHackRegistry } from '../../../hack/registry/index.js';
import {
  FIXTURE_NAMES,
  type FixtureImage,
  type FixtureName,
  fixtureBuild,
  fixtureImages,
} from '../../support/images.js';
import { type RunningRegistry, registryRequest, startRegistry } from '../../support/registry.js';

const run = promisify(execFile);
const sha = (b: string | Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const ACCEPT_ALL = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

describe('anonymous registry', () => {
  let reg: RunningRegistry;
  let images: Record<FixtureName, FixtureImage>;
  const scratch: string[] = [];

  before(async () => {
    reg = await startRegistry();
    images = await fixtureImages(reg);
  });

  after(async () => {
    await reg.stop();
    for (const d of scratch) await fs.rm(d, { recursive: true, force: true });
  });

  test('the catalogue lists every fixture with tag latest', async () => {
    const cat = JSON.parse((await registryRequest(reg, '/v2/_catalog?n=1000')).body) as { repositories: string[] };
    assert.deepEqual(cat.repositories, FIXTURE_NAMES.map((n) => `e2e-test-images/${n}`).sort());
    for (const name of FIXTURE_NAMES) {
      const tags = JSON.parse((await registryRequest(reg, `/v2/e2e-test-images/${name}/tags/list`)).body) as {
        tags: string[];
      };
      assert.deepEqual(tags.tags, ['latest'], name);
    }
  });

  test('manifests are served with their media type and digest, and every blob is there', async () => {
    for (const img of Object.values(images)) {
      const res = await registryRequest(reg, `/v2/${img.repository}/manifests/${img.tag}`, { accept: ACCEPT_ALL });
      assert.equal(res.status, 200, img.name);
      assert.equal(res.headers['content-type'], img.mediaType, img.name);
      assert.equal(res.headers['docker-content-digest'], img.manifestDigest, img.name);
      assert.equal(sha(res.body), img.manifestDigest, img.name);
      const doc = JSON.parse(res.body) as { manifests?: Array<{ digest: string }> };
      if (img.childDigests.length > 0) {
        assert.deepEqual(
          doc.manifests?.map((m) => m.digest),
          img.childDigests,
        );
        for (const d of img.childDigests) {
          const child = await registryRequest(reg, `/v2/${img.repository}/manifests/${d}`, { accept: ACCEPT_ALL });
          assert.equal(sha(child.body), d);
        }
      }
      for (const p of img.platforms) {
        const config = await registryRequest(reg, `/v2/${img.repository}/blobs/${p.configDigest}`);
        assert.equal(sha(config.body), p.configDigest);
        for (const l of p.layers) {
          const head = await registryRequest(reg, `/v2/${img.repository}/blobs/${l.digest}`, { method: 'HEAD' });
          assert.equal(head.status, 200, `${img.name} ${l.digest}`);
          assert.equal(Number(head.headers['content-length']), l.size);
        }
      }
    }
    const missing = await registryRequest(reg, `/v2/e2e-test-images/busybox/blobs/sha256:${'0'.repeat(64)}`, {
      method: 'HEAD',
    });
    assert.equal(missing.status, 404);
  });

  test('a manifest asked for in docker format only is not rewritten', async () => {
    const img = images['busybox-oci'];
    const res = await registryRequest(reg, `/v2/${img.repository}/manifests/latest`, {
      accept: ['application/vnd.oci.image.manifest.v1+json'],
    });
    assert.equal(res.headers['content-type'], 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(img.manifestDigest, img.ociDigest);
  });

  for (const name of ['busybox', 'busybox-layers', 'busybox-zstd', 'busybox-entrypoint', 'multiarch'] as const) {
    test(`skopeo inspects and copies ${name}`, async () => {
      const img = images[name];
      const out = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${img.ref}`]);
      const info = JSON.parse(out.stdout) as { Digest: string; Layers: string[]; Architecture: string };
      assert.equal(info.Digest, img.manifestDigest);
      assert.deepEqual(
        info.Layers,
        img.layers.map((l) => l.digest),
      );
      assert.equal(info.Architecture, 'amd64');
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-skopeo-'));
      scratch.push(dir);
      await run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${img.refByDigest}`, `dir:${dir}/img`]);
      const m = JSON.parse(await fs.readFile(path.join(dir, 'img', 'manifest.json'), 'utf8')) as {
        config: { digest: string };
      };
      assert.equal(m.config.digest, img.configDigest);
    });
  }

  test('multiarch lists linux/amd64 and linux/arm64/v8', async () => {
    const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${images.multiarch.ref}`]);
    const index = JSON.parse(raw.stdout) as {
      manifests: Array<{ platform: { architecture: string; variant?: string } }>;
    };
    assert.deepEqual(
      index.manifests.map((m) => [m.platform.architecture, m.platform.variant]),
      [
        ['amd64', undefined],
        ['arm64', 'v8'],
      ],
    );
    assert.equal(images['multiarch-docker'].mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
  });

  test('monolithic and chunked uploads store the same image', async () => {
    const build = await fixtureBuild();
    const f = build.fixtures.get('busybox-layers');
    assert.ok(f);
    for (const upload of ['monolithic', 'chunked'] as const) {
      const client = new RegistryClient(build.store, { registry: reg.host, upload, chunkSize: 64 * 1024 });
      const r = await client.push(f.built, `upload-modes/${upload}`, 'v1', 'oci');
      assert.equal(r.manifestDigest, images['busybox-layers'].manifestDigest);
      const head = await registryRequest(reg, `/v2/upload-modes/${upload}/manifests/v1`, {
        method: 'HEAD',
        accept: ACCEPT_ALL,
      });
      assert.equal(head.headers['docker-content-digest'], r.manifestDigest);
    }
  });

  test('a pushed reference is validated', async () => {
    const build = await fixtureBuild();
    const f = build.fixtures.get('busybox');
    assert.ok(f);
    const client = new RegistryClient(build.store, { registry: reg.host });
    await assert.rejects(
      client.push(f.built, 'Upper/Case', 'latest', 'docker'),
      /invalid repository name "Upper\/Case"/,
    );
    await assert.rejects(client.push(f.built, 'ok', 'bad tag', 'docker'), /invalid tag "bad tag"/);
  });
});

describe('registry with htpasswd auth', () => {
  let reg: RunningRegistry;

  before(async () => {
    reg = await startRegistry({ auth: true });
  });

  after(async () => {
    await reg.stop();
  });

  test('anonymous and wrong callers get 401, the right user gets in', async () => {
    assert.ok(reg.auth);
    const anon = await registryRequest(reg, '/v2/', { auth: null });
    assert.equal(anon.status, 401);
    assert.match(String(anon.headers['www-authenticate']), /^Basic realm=/);
    const wrong = await registryRequest(reg, '/v2/', { auth: { username: reg.auth.username, password: 'wrong' } });
    assert.equal(wrong.status, 401);
    assert.equal((await registryRequest(reg, '/v2/')).status, 200);
  });

  test('push needs credentials; pulls need them too', async () => {
    assert.ok(reg.auth);
    const build = await fixtureBuild();
    const anonymousPush = new RegistryClient(build.store, { registry: reg.host });
    const f = build.fixtures.get('busybox');
    assert.ok(f);
    await assert.rejects(anonymousPush.push(f.built, 'private/busybox', 'latest', 'docker'), {
      name: 'UnauthenticatedError',
    });
    const images = await fixtureImages(reg, { prefix: 'private/' });
    const img = images.busybox;
    const anon = await registryRequest(reg, `/v2/${img.repository}/manifests/latest`, {
      auth: null,
      accept: ACCEPT_ALL,
    });
    assert.equal(anon.status, 401);
    await assert.rejects(run('skopeo', ['inspect', '--tls-verify=false', '--no-creds', `docker://${img.ref}`]));
    const creds = `${reg.auth.username}:${reg.auth.password}`;
    const ok = await run('skopeo', ['inspect', '--tls-verify=false', '--creds', creds, `docker://${img.ref}`]);
    assert.equal((JSON.parse(ok.stdout) as { Digest: string }).Digest, img.manifestDigest);
  });
});

describe('registry lifecycle', () => {
  test('stop ends the process it started and removes its dir', async () => {
    const reg = await startHackRegistry();
    assert.ok(alive(reg.pid));
    assert.ok(await exists(path.join(reg.dir, 'config.yml')));
    await reg.stop();
    await reg.stop();
    assert.equal(alive(reg.pid), false);
    assert.equal(await exists(reg.dir), false);
  });

  test('a port already taken is a clear error and leaves nothing behind', async () => {
    const reg = await startHackRegistry();
    // A private parent dir, so registries of other test processes cannot disturb the count.
    const tmpRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-port-test-'));
    try {
      await assert.rejects(startHackRegistry({ port: reg.port, tmpRoot }), /address already in use/);
      assert.deepEqual(await fs.readdir(tmpRoot), []);
      // The probe did not mistake the other registry for the new one.
      assert.ok(alive(reg.pid));
    } finally {
      await reg.stop();
      await fs.rm(tmpRoot, { recursive: true, force: true });
    }
  });

  test('a missing binary is a clear error', async () => {
    await assert.rejects(startHackRegistry({ binary: '/nonexistent/docker-registry' }), /install the Debian package/);
  });
});
