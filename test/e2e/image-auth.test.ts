/**
 * Pulls that need credentials, through a real `ucri serve`: a Distribution registry with htpasswd basic auth
 * (right, wrong and no credentials in the CRI AuthConfig), and the same registry behind a small Bearer-token
 * front written here (a token endpoint checking its own basic credentials, and a proxy that demands the
 * token), as Docker Hub and most registries work.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type AuthConfig, type CriClient, grpc, statusOf } from '../support/cri-client.js';
import { startDaemon, type TestDaemon } from '../support/daemon.js';
import { type FixtureImage, type FixtureName, fixtureImages } from '../support/images.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';

const auth = (username: string, password: string): AuthConfig => ({
  username,
  password,
  auth: '',
  serverAddress: '',
  identityToken: '',
  registryToken: '',
});

/** A token server + proxy in front of `reg`: clients need a token that costs `user:password` to obtain. */
async function tokenFront(reg: RunningRegistry, user: string, password: string) {
  const token = randomBytes(16).toString('hex');
  const upstream = `Basic ${Buffer.from(`${reg.auth!.username}:${reg.auth!.password}`).toString('base64')}`;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://front');
    if (url.pathname === '/token') {
      const want = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      if (req.headers.authorization !== want || url.searchParams.get('service') !== 'front') {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
      return;
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      const realm = `http://${req.headers.host}/token`;
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="front"` }).end();
      return;
    }
    request(`${reg.url}${url.pathname}${url.search}`, {
      method: req.method as 'GET',
      headers: { accept: req.headers.accept ?? '*/*', authorization: upstream },
    }).then(
      (up) => {
        const headers: Record<string, string> = {};
        for (const k of ['content-type', 'content-length', 'docker-content-digest']) {
          const v = up.headers[k];
          if (typeof v === 'string') headers[k] = v;
        }
        res.writeHead(up.statusCode, headers);
        up.body.pipe(res);
      },
      () => res.writeHead(502).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('image pulls with credentials', () => {
  let reg: RunningRegistry;
  let fx: Record<FixtureName, FixtureImage>;
  let front: Awaited<ReturnType<typeof tokenFront>>;
  let d: TestDaemon;
  let c: CriClient;

  before(async () => {
    reg = await startRegistry({ auth: true });
    fx = await fixtureImages(reg);
    front = await tokenFront(reg, 'tokenuser', 'tokenpass');
    d = await startDaemon();
    c = d.client();
  });
  after(async () => {
    await d?.stop();
    await d?.cleanup();
    await front?.stop();
    await reg?.stop();
  });

  const pull = (image: string, a?: AuthConfig) =>
    c.image.pullImage({
      image: { image, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
      auth: a,
      sandboxConfig: undefined,
    });
  const code = (want: grpc.status) => (err: unknown) => {
    assert.equal(statusOf(err), want, (err as Error).message);
    return true;
  };

  it('refuses a basic-auth registry without credentials or with wrong ones', async () => {
    await assert.rejects(pull(fx.busybox.ref), code(grpc.status.UNAUTHENTICATED));
    await assert.rejects(pull(fx.busybox.ref, auth(reg.auth!.username, 'wrong')), code(grpc.status.UNAUTHENTICATED));
  });

  it('pulls from a basic-auth registry with the AuthConfig credentials', async () => {
    const res = await pull(fx['busybox-env'].ref, auth(reg.auth!.username, reg.auth!.password));
    assert.equal(res.imageRef, fx['busybox-env'].configDigest);
  });

  it('pulls through a Bearer token server with the right credentials only', async () => {
    const ref = `${front.host}/e2e-test-images/busybox-httpd:latest`;
    await assert.rejects(pull(ref), code(grpc.status.UNAUTHENTICATED));
    await assert.rejects(pull(ref, auth('tokenuser', 'nope')), code(grpc.status.UNAUTHENTICATED));
    const res = await pull(ref, auth('tokenuser', 'tokenpass'));
    assert.equal(res.imageRef, fx['busybox-httpd'].configDigest);
  });
});
