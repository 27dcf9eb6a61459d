import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import {
  DigestMismatchError,
  DigestVerifier,
  defaultPlatform,
  MediaType,
  parseDigest,
  parseImageConfig,
  parseManifest,
  selectManifest,
  sha256Digest,
} from '../../../pkg/image/index.js';
import { isKind } from '../../../pkg/util/index.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const desc = (mediaType: string, c: string, platform?: { os: string; architecture: string; variant?: string }) => ({
  mediaType,
  digest: d(c),
  size: 10,
  platform,
});
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('digests', () => {
  it('validates sha256 only', () => {
    assert.equal(parseDigest(d('a')), d('a'));
    assert.throws(() => parseDigest(`sha512:${'a'.repeat(128)}`), /unsupported digest algorithm "sha512"/);
    assert.throws(
      () => parseDigest('sha256:xyz'),
      (e) => isKind(e, 'InvalidArgument'),
    );
  });

  it('verifies digest and size while streaming', async () => {
    const data = Buffer.from('hello world');
    const ok = new DigestVerifier('x', { digest: sha256Digest(data), size: data.length });
    await pipeline(Readable.from([data]), ok, async (s) => {
      for await (const _ of s);
    });
    assert.deepEqual(ok.result, { digest: sha256Digest(data), size: 11 });
    for (const expected of [{ digest: d('0') }, { size: 10 }, { size: 12 }]) {
      const v = new DigestVerifier('blob "x"', expected);
      await assert.rejects(
        pipeline(Readable.from([data]), v, async (s) => {
          for await (const _ of s);
        }),
        (err) =>
          err instanceof DigestMismatchError && err.code === 'DIGEST_MISMATCH' && isKind(err, 'FailedPrecondition'),
      );
    }
  });
});

describe('manifests', () => {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: desc(MediaType.DockerConfig, 'c'),
    layers: [desc(MediaType.DockerLayerGzip, '1'), desc(MediaType.OciLayerZstd, '2')],
  };

  it('parses docker v2s2 and OCI manifests and indexes', () => {
    const m = parseManifest(json(manifest), MediaType.DockerManifest);
    assert.equal(m.kind, 'manifest');
    const oci = parseManifest(
      json({ ...manifest, mediaType: undefined, config: desc(MediaType.OciConfig, 'c') }),
      MediaType.OciManifest,
    );
    assert.equal(oci.mediaType, MediaType.OciManifest);
    const idx = parseManifest(json({ schemaVersion: 2, manifests: [] }), 'application/json');
    assert.equal(idx.kind, 'index');
    const list = parseManifest(json({ schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [] }));
    assert.equal(list.mediaType, MediaType.DockerManifestList);
  });

  it('refuses schema 1, unknown types, disagreeing types and bad documents', () => {
    assert.throws(
      () => parseManifest(json({ schemaVersion: 1 }), MediaType.DockerSchema1Signed),
      (e) => isKind(e, 'Unimplemented'),
    );
    assert.throws(
      () => parseManifest(json({ schemaVersion: 1, fsLayers: [] })),
      (e) => isKind(e, 'Unimplemented'),
    );
    const untyped = { ...manifest, mediaType: undefined };
    assert.throws(
      () => parseManifest(json(untyped), 'application/vnd.example+json'),
      (e) => isKind(e, 'Unimplemented'),
    );
    assert.throws(() => parseManifest(json(manifest), MediaType.OciIndex), /does not match/);
    assert.throws(
      () => parseManifest(Buffer.from('{'), MediaType.OciManifest),
      (e) => isKind(e, 'InvalidArgument'),
    );
    const badDigest = { ...manifest, layers: [{ ...manifest.layers[0], digest: 'md5:x' }] };
    assert.throws(() => parseManifest(json(badDigest), MediaType.DockerManifest), /layers\.0\.digest/);
    const badLayer = { ...manifest, layers: [desc('application/x-foreign', '1')] };
    assert.throws(
      () => parseManifest(json(badLayer), MediaType.DockerManifest),
      (e) => isKind(e, 'Unimplemented'),
    );
  });

  it('normalizes image configs, Docker nulls included', () => {
    const cfg = parseImageConfig(
      json({
        architecture: 'amd64',
        os: 'linux',
        config: {
          User: '1002:1003',
          Env: ['PATH=/bin'],
          Entrypoint: null,
          Cmd: ['sh'],
          WorkingDir: '/w',
          ExposedPorts: { '80/tcp': {} },
          Volumes: { '/data': {} },
          Labels: { a: 'b' },
          StopSignal: 'SIGQUIT',
        },
        rootfs: { type: 'layers', diff_ids: [d('1')] },
      }),
    );
    assert.deepEqual(cfg.entrypoint, []);
    assert.deepEqual(cfg.cmd, ['sh']);
    assert.deepEqual(cfg.exposedPorts, ['80/tcp']);
    assert.deepEqual(cfg.volumes, ['/data']);
    assert.equal(cfg.stopSignal, 'SIGQUIT');
    assert.equal(cfg.user, '1002:1003');
    const bare = parseImageConfig(
      json({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    );
    assert.deepEqual([bare.env, bare.workingDir, bare.labels], [[], '', {}]);
    assert.throws(
      () => parseImageConfig(json({ os: 'linux' })),
      (e) => isKind(e, 'InvalidArgument'),
    );
  });
});

describe('platform selection', () => {
  const index = {
    schemaVersion: 2 as const,
    manifests: [
      desc(MediaType.OciManifest, 'a', { os: 'unknown', architecture: 'unknown' }),
      desc(MediaType.OciManifest, 'b', { os: 'linux', architecture: 'arm', variant: 'v6' }),
      desc(MediaType.OciManifest, 'c', { os: 'linux', architecture: 'arm', variant: 'v7' }),
      desc(MediaType.OciManifest, 'd', { os: 'linux', architecture: 'arm64', variant: 'v8' }),
      desc(MediaType.OciManifest, 'e', { os: 'linux', architecture: 'amd64', variant: 'v3' }),
      desc(MediaType.OciManifest, 'f', { os: 'linux', architecture: 'amd64' }),
      desc(MediaType.OciManifest, '1', { os: 'windows', architecture: 'amd64' }),
    ],
  };
  const pick = (p: { os: string; architecture: string; variant?: string }) => selectManifest(index, p).digest;

  it('matches os, architecture and variant', () => {
    assert.equal(pick({ os: 'linux', architecture: 'amd64' }), d('f'));
    assert.equal(pick({ os: 'linux', architecture: 'x86_64' }), d('f'));
    assert.equal(pick({ os: 'linux', architecture: 'amd64', variant: 'v3' }), d('e'));
    assert.equal(pick({ os: 'linux', architecture: 'arm64' }), d('d'));
    assert.equal(pick({ os: 'linux', architecture: 'arm', variant: 'v7' }), d('c'));
    assert.equal(pick({ os: 'windows', architecture: 'amd64' }), d('1'));
    const v6only = { schemaVersion: 2 as const, manifests: [index.manifests[1]!] };
    assert.equal(selectManifest(v6only, { os: 'linux', architecture: 'arm', variant: 'v7' }).digest, d('b'));
    assert.throws(
      () => selectManifest(v6only, { os: 'linux', architecture: 'arm', variant: 'v5' }),
      (e) => isKind(e, 'NotFound'),
    );
    assert.throws(
      () => pick({ os: 'linux', architecture: 's390x' }),
      /no image for platform "linux\/s390x".*linux\/arm\/v6/,
    );
  });

  it('defaults to this host', () => {
    const p = defaultPlatform();
    assert.equal(p.os, 'linux');
    assert.equal(p.architecture, process.arch === 'x64' ? 'amd64' : process.arch);
  });
});
