/**
 * Test helper: a one-layer Docker schema 2 image built in memory, served by the in-process FakeRegistry
 * (test/unit/image/fake-registry.ts), optionally with a corrupted layer blob (right digest, wrong bytes).
 */
import { type FakeRegistry, sha } from '../image/fake-registry.js';
import { type FixtureEntry, gzip, packTar } from '../image/tar-fixtures.js';

export interface TinyImage {
  configDigest: string;
  manifestDigest: string;
  layerDigest: string;
  diffId: string;
}

/**
 * Builds an image whose only file is /label.txt = `label` (plus /filler.bin = `filler` when given, e.g. random
 * bytes for a layer too large to arrive in one chunk), and stores it under `repo:tag`.
 */
export async function putTinyImage(
  fake: FakeRegistry,
  repo: string,
  tag: string,
  label: string,
  opts: { corruptLayer?: boolean; filler?: Buffer } = {},
): Promise<TinyImage> {
  const files: FixtureEntry[] = [{ name: 'label.txt', content: `${label}\n` }];
  if (opts.filler) files.push({ name: 'filler.bin', content: opts.filler });
  const tar = await packTar(files);
  const layer = gzip(tar);
  const diffId = sha(tar);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['cat', '/label.txt'], Labels: { label } },
      rootfs: { type: 'layers', diff_ids: [diffId] },
    }),
  );
  const cfg = fake.putBlob(config);
  const blob = fake.putBlob(layer);
  if (opts.corruptLayer) {
    const bad = Buffer.from(layer);
    bad[bad.length - 10] = (bad[bad.length - 10] ?? 0) ^ 0xff;
    fake.blobs.set(blob.digest, bad);
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', ...cfg },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', ...blob }],
    }),
  );
  const manifestDigest = fake.putManifest(repo, manifest, 'application/vnd.docker.distribution.manifest.v2+json', tag);
  return { configDigest: cfg.digest, manifestDigest, layerDigest: blob.digest, diffId };
}
