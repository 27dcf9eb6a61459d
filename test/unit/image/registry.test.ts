import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import {
  credentialsFromJson,
  DigestMismatchError,
  Limiter,
  MediaType,
  parseReference,
  HttpAgents,
  RegistryClient,
  type RegistryOptions,
  resolveImage,
  SharedFlight,
} from '../../../pkg/image/index.js';
import { configureLogging, isKind } from '../../../pkg/util/index.js';
import { FakeRegistry, type FakeRegistryOptions, sha } from './fake-registry.js';

configureLogging({ silent: true });

const agents = new HttpAgents();
after(() => agents.close());
let servers: FakeRegistry[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

async function registry(opts: FakeRegistryOptions = {}): Promise<FakeRegistry> {
  const r = await new FakeRegistry(opts).start();
  servers.push(r);
  return r;
}

function client(opts: RegistryOptions = {}): RegistryClient {
  return new RegistryClient({ agents, ...opts });
}

async function readAll(s: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c);
  return Buffer.concat(chunks);
}

/** A one-layer image in `r` under repo `app`, tag `v1`. */
function seedImage(r: FakeRegistry, arch = process.arch === 'x64' ? 'amd64' : process.arch) {
  const layer = r.putBlob(Buffer.from('layer-bytes'));
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: 'linux',
      config: { Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: [sha(Buffer.from('tar'))] },
    }),
  );
  const config = r.putBlob(configBytes);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, ...config },
      layers: [{ mediaType: MediaType.OciLayerGzip, ...layer }],
    }),
  );
  const digest = r.putManifest('app', manifest, MediaType.OciManifest, 'v1');
  return { layer, config, manifest, digest };
}

describe('RegistryClient', () => {
  it('follows the Bearer challenge anonymously and caches the token per scope', async () => {
    const r = await registry({ auth: 'bearer' });
    const { digest, manifest } = seedImage(r);
    const c = client();
    const ref = parseReference(`${r.host}/app:v1`);
    const got = await c.resolve(ref);
    assert.equal(got.digest, digest);
    assert.deepEqual(got.bytes, manifest);
    assert.equal(got.mediaType, MediaType.OciManifest);
    assert.equal(r.tokenRequests, 1);
    const before = r.hits.length;
    await c.resolve(ref);
    assert.equal(r.tokenRequests, 1, 'token reused');
    assert.equal(r.hits.length, before + 1, 'no 401 round trip once the challenge is known');
    assert.equal(r.hits.at(-1)?.authorization, 'Bearer tok:fake:repository:app:pull');
  });

  it('sends Basic credentials to the token realm, from the CRI auth or from the credentials file', async () => {
    const r = await registry({ auth: 'bearer', user: 'u', password: 'p' });
    seedImage(r);
    const ref = parseReference(`${r.host}/app:v1`);
    await assert.rejects(client().resolve(ref), (e) => isKind(e, 'Unauthenticated'));
    await client().resolve(ref, { auth: { username: 'u', password: 'p' } });
    await client().resolve(ref, { auth: { auth: Buffer.from('u:p').toString('base64') } });
    const file = credentialsFromJson({
      auths: { [`http://${r.host}/`]: { auth: Buffer.from('u:p').toString('base64') } },
    });
    await client({ credentials: file }).resolve(ref);
    await assert.rejects(client().resolve(ref, { auth: { username: 'u', password: 'wrong' } }), (e) =>
      isKind(e, 'Unauthenticated'),
    );
  });

  it('does Basic auth and maps 401/403/404 to domain errors', async () => {
    const r = await registry({ auth: 'basic', user: 'u', password: 'p' });
    const { layer } = seedImage(r);
    const ref = parseReference(`${r.host}/app:v1`);
    await client().resolve(ref, { auth: { username: 'u', password: 'p' } });
    await assert.rejects(client().resolve(ref), (e) => isKind(e, 'Unauthenticated'));
    await assert.rejects(client().resolve(ref, { auth: { username: 'u', password: 'x' } }), (e) =>
      isKind(e, 'Unauthenticated'),
    );
    const auth = { username: 'u', password: 'p' };
    await assert.rejects(client().resolve(parseReference(`${r.host}/app:nope`), { auth }), (e) =>
      isKind(e, 'NotFound'),
    );
    await assert.rejects(client().fetchBlob(ref, { digest: sha(Buffer.from('?')) }, { auth }), (e) =>
      isKind(e, 'NotFound'),
    );
    assert.deepEqual(await readAll(await client().fetchBlob(ref, layer, { auth })), Buffer.from('layer-bytes'));
    const forbidden = await registry({ status: 403 });
    await assert.rejects(client().resolve(parseReference(`${forbidden.host}/app:v1`)), (e) =>
      isKind(e, 'PermissionDenied'),
    );
  });

  it('follows blob redirects to another host without sending it the Authorization header', async () => {
    const storage = await registry();
    const r = await registry({ auth: 'bearer', redirectBlobsTo: `http://localhost:${0}` });
    (r.opts as FakeRegistryOptions).redirectBlobsTo = `http://localhost:${storage.port}`;
    const { layer } = seedImage(r);
    storage.blobs.set(layer.digest, Buffer.from('layer-bytes'));
    const ref = parseReference(`${r.host}/app:v1`);
    const body = await readAll(await client().fetchBlob(ref, layer));
    assert.equal(body.toString(), 'layer-bytes');
    assert.equal(storage.hits.length, 1);
    assert.equal(storage.hits[0]?.authorization, undefined);
    assert.ok(r.hits.some((h) => h.authorization?.startsWith('Bearer ')));
  });

  it('fails blobs and manifests whose content does not match their digest or size', async () => {
    const r = await registry();
    const { layer, digest } = seedImage(r);
    const ref = parseReference(`${r.host}/app:v1`);
    r.blobs.set(layer.digest, Buffer.from('layer-bytez'));
    await assert.rejects(readAll(await client().fetchBlob(ref, layer)), DigestMismatchError);
    r.blobs.set(layer.digest, Buffer.from('layer-bytes'));
    await assert.rejects(readAll(await client().fetchBlob(ref, { ...layer, size: 5 })), (e) => {
      return e instanceof DigestMismatchError && e.code === 'DIGEST_MISMATCH';
    });
    r.manifests.set(`app@${digest}`, { body: Buffer.from('{}'), type: MediaType.OciManifest });
    await assert.rejects(client().resolve(parseReference(`${r.host}/app@${digest}`)), DigestMismatchError);
  });

  it('tries mirrors in order, then the upstream, keeping the repository path', async () => {
    const empty = await registry();
    const mirror = await registry({ auth: 'basic', user: 'm', password: 'm' });
    const good = await registry();
    const { digest } = seedImage(good);
    seedImage(mirror);
    const upstream = await registry();
    await upstream.stop();
    servers = servers.filter((s) => s !== upstream);
    const domain = upstream.host; // nothing listens there any more
    const c = client({ mirrors: { [domain]: { endpoints: [empty.host, `http://${mirror.host}/`, good.host] } } });
    const ref = parseReference(`${domain}/app:v1`);
    const got = await c.resolve(ref, { auth: { username: 'm', password: 'm' } });
    assert.equal(got.digest, digest);
    assert.equal(got.endpoint, `http://${good.host}`);
    assert.deepEqual(
      empty.hits.map((h) => h.path),
      ['/v2/app/manifests/v1'],
    );
    assert.ok(
      mirror.hits.every((h) => h.authorization === undefined),
      'pull credentials are not sent to mirrors',
    );
    assert.equal(good.hits.length, 1);

    const none = client({ mirrors: { [domain]: { endpoints: [empty.host] } } });
    await assert.rejects(none.resolve(parseReference(`${domain}/app:v2`)), (e) => {
      assert.ok(isKind(e, 'NotFound'));
      assert.match((e as Error).message, /not found.*unreachable|unreachable.*not found/);
      return true;
    });
    await assert.rejects(client().resolve(ref), (e) => {
      assert.ok(isKind(e, 'Unavailable'));
      assert.match((e as Error).message, new RegExp(`registry "${domain}" unreachable: ECONNREFUSED`));
      return true;
    });
  });

  it('chooses http for loopback and insecure hosts, https otherwise', () => {
    const c = client({
      insecure: ['insecure.example:5000', 'plain.example'],
      mirrors: {
        'docker.io': { endpoints: ['mirror.example', 'http://m2.example:81/prefix/v2', 'plain.example:8080'] },
      },
    });
    assert.deepEqual(
      c.endpoints('docker.io').map((e) => e.base),
      [
        'https://mirror.example',
        'http://m2.example:81/prefix',
        'http://plain.example:8080',
        'https://registry-1.docker.io',
      ],
    );
    assert.equal(c.endpoints('localhost:5000')[0]?.base, 'http://localhost:5000');
    assert.equal(c.endpoints('127.0.0.2')[0]?.base, 'http://127.0.0.2');
    assert.equal(c.endpoints('[::1]:5000')[0]?.base, 'http://[::1]:5000');
    assert.equal(c.endpoints('insecure.example:5000')[0]?.base, 'http://insecure.example:5000');
    assert.equal(c.endpoints('registry.k8s.io')[0]?.base, 'https://registry.k8s.io');
    assert.throws(
      () => client({ mirrors: { x: { endpoints: ['ftp://x'] } } }),
      (e) => isKind(e, 'InvalidArgument'),
    );
  });

  it('resolves an index to the platform manifest and its verified config', async () => {
    const r = await registry({ auth: 'bearer' });
    const amd = seedImage(r, 'amd64');
    const arm = seedImage(r, 'arm64');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          {
            mediaType: MediaType.OciManifest,
            digest: arm.digest,
            size: arm.manifest.length,
            platform: { os: 'linux', architecture: 'arm64' },
          },
          {
            mediaType: MediaType.OciManifest,
            digest: amd.digest,
            size: amd.manifest.length,
            platform: { os: 'linux', architecture: 'amd64' },
          },
        ],
      }),
    );
    const indexDigest = r.putManifest('app', index, MediaType.OciIndex, 'multi');
    const img = await resolveImage(client(), parseReference(`${r.host}/app:multi`), {
      platform: { os: 'linux', architecture: 'arm64' },
    });
    assert.equal(img.repoDigest, indexDigest);
    assert.equal(img.manifestDigest, arm.digest);
    assert.equal(img.config.architecture, 'arm64');
    assert.deepEqual(img.config.cmd, ['sh']);
    assert.equal(img.layers.length, 1);
    await assert.rejects(
      resolveImage(client(), parseReference(`${r.host}/app:multi`), {
        platform: { os: 'linux', architecture: 's390x' },
      }),
      (e) => isKind(e, 'NotFound'),
    );
    await assert.rejects(
      resolveImage(client(), parseReference(`${r.host}/app@${arm.digest}`), {
        platform: { os: 'linux', architecture: 'amd64' },
      }),
      (e) => isKind(e, 'FailedPrecondition'),
    );
  });

  it('honours an AbortSignal', async () => {
    const r = await registry();
    seedImage(r);
    const ctl = new AbortController();
    ctl.abort();
    await assert.rejects(client().resolve(parseReference(`${r.host}/app:v1`), { signal: ctl.signal }), (e) =>
      isKind(e, 'Cancelled'),
    );
  });
});

describe('pull concurrency helpers', () => {
  it('SharedFlight runs one download for concurrent callers and survives one caller giving up', async () => {
    const flights = new SharedFlight<string>();
    let calls = 0;
    let release!: (v: string) => void;
    const fn = async (signal: AbortSignal) => {
      calls++;
      const v = await new Promise<string>((resolve) => {
        release = resolve;
      });
      assert.equal(signal.aborted, false);
      return v;
    };
    const quitter = new AbortController();
    const a = flights.do('k', fn, quitter.signal);
    const b = flights.do('k', fn);
    quitter.abort();
    await assert.rejects(a, (e) => isKind(e, 'Cancelled'));
    release('done');
    assert.equal(await b, 'done');
    assert.equal(calls, 1);
    assert.equal(flights.has('k'), false);
  });

  it('SharedFlight aborts the work when every caller has given up', async () => {
    const flights = new SharedFlight<void>();
    const ctl = new AbortController();
    let seen: AbortSignal | undefined;
    const p = flights.do(
      'k',
      (signal) => {
        seen = signal;
        return new Promise<void>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      },
      ctl.signal,
    );
    ctl.abort();
    await assert.rejects(p);
    assert.equal(seen?.aborted, true);
  });

  it('Limiter bounds concurrency', async () => {
    const limiter = new Limiter(2);
    let running = 0;
    let peak = 0;
    let started = 0;
    const gates: Array<() => void> = [];
    const tasks = Array.from({ length: 5 }, () =>
      limiter.run(async () => {
        started++;
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((resolve) => gates.push(resolve));
        running--;
      }),
    );
    // Release one running task at a time until all five have run; never more than two at once.
    while (started < 5 || gates.length > 0) {
      await new Promise((resolve) => setImmediate(resolve));
      gates.shift()?.();
    }
    await Promise.all(tasks);
    assert.equal(peak, 2);
  });
});
