/**
 * Test helper: the fixture images of hack/images, built once per test process into a temp dir (removed when
 * the process exits) and pushed once per registry.
 *
 *   const reg = await startRegistry();
 *   const images = await fixtureImages(reg);
 *   images.busybox.ref             // '127.0.0.1:PORT/e2e-test-images/busybox:latest'
 *   images['busybox-layers'].paths.ociArchive
 */
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  type BuiltImage,
  buildCatalogue,
  type CatalogueBuild,
  type Compression,
  type FixturePaths,
  type ImageConfig,
  layerMediaType,
  type ManifestFormat,
  type Platform,
  pushCatalogue,
} from '../../hack/images/index.js';
import { onProcessExit, type RegistryUser } from '../../hack/registry/index.js';

/** The names of the catalogue (kept equal to hack/images/catalogue.ts by a test). */
export const FIXTURE_NAMES = [
  'busybox',
  'busybox-oci',
  'busybox-user',
  'busybox-user-numeric',
  'busybox-entrypoint',
  'busybox-env',
  'busybox-metadata',
  'busybox-layers',
  'busybox-zstd',
  'busybox-pause',
  'busybox-httpd',
  'multiarch',
  'multiarch-docker',
] as const;

export type FixtureName = (typeof FIXTURE_NAMES)[number];

/** One layer of a fixture; `mediaType` is the one of the fixture's push format. */
export interface FixtureLayer {
  digest: string;
  diffId: string;
  size: number;
  compression: Compression;
  mediaType: string;
}

/** One platform image of a fixture. */
export interface FixturePlatformImage {
  platform: Platform;
  configDigest: string;
  config: ImageConfig;
  layers: FixtureLayer[];
}

/** A fixture as built on disk (no registry involved). */
export interface LocalFixture {
  name: FixtureName;
  description: string;
  /** Format of the registry push; the OCI layout and archive always use OCI media types. */
  format: ManifestFormat;
  /** Digest of the OCI manifest (or index) in `paths.ociLayout` / `paths.ociArchive`. */
  ociDigest: string;
  /** linux/amd64 image: the image itself, or the amd64 entry of an index. */
  configDigest: string;
  config: ImageConfig;
  layers: FixtureLayer[];
  /** Every platform image (one for a single-platform fixture). */
  platforms: FixturePlatformImage[];
  /** OCI layout dir, OCI archive, docker archive (`<name>:latest`), and its Mesos-named hard link. */
  paths: FixturePaths;
}

/** A fixture pushed to a registry. */
export interface FixtureImage extends LocalFixture {
  repository: string;
  tag: string;
  /** `host:port/repository:tag` */
  ref: string;
  /** `host:port/repository@digest` */
  refByDigest: string;
  /** Digest of what the registry serves for `ref` (manifest, or index/list for multiarch). */
  manifestDigest: string;
  mediaType: string;
  /** Child manifest digests of an index, in `platforms` order (empty otherwise). */
  childDigests: string[];
}

let building: Promise<CatalogueBuild> | undefined;
const pushes = new Map<string, Promise<Record<FixtureName, FixtureImage>>>();

/** The catalogue built in this process (first call builds, ~1 s). */
export function fixtureBuild(): Promise<CatalogueBuild> {
  building ??= (async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ucri-fixtures-'));
    onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
    return buildCatalogue(dir);
  })();
  return building;
}

/** The Mesos `--docker_registry` directory of this process's build (`<name>:latest.tar` files). */
export async function fixtureDockerRegistryDir(): Promise<string> {
  return (await fixtureBuild()).dockerRegistryDir;
}

/** Every fixture as built on disk. */
export async function fixtureArchives(): Promise<Record<FixtureName, LocalFixture>> {
  const build = await fixtureBuild();
  const out: Partial<Record<FixtureName, LocalFixture>> = {};
  for (const name of FIXTURE_NAMES) {
    const f = build.fixtures.get(name);
    if (!f) throw new Error(`fixture "${name}" missing from the catalogue`);
    const images = f.built.kind === 'image' ? [f.built] : f.built.images;
    const platforms = images.map((i) => platformImage(i, f.format));
    const main = platforms.find((p) => p.platform.architecture === 'amd64') ?? platforms[0];
    if (!main) throw new Error(`fixture "${name}" has no image`);
    out[name] = {
      name,
      description: f.description,
      format: f.format,
      ociDigest: f.ociDigest,
      configDigest: main.configDigest,
      config: main.config,
      layers: main.layers,
      platforms,
      paths: f.paths,
    };
  }
  return out as Record<FixtureName, LocalFixture>;
}

/**
 * Pushes the catalogue to `registry` (once per registry and prefix in this process) and describes every image.
 * With auth, pass the registry's user (a `RunningRegistry` carries it).
 */
export function fixtureImages(
  registry: { host: string; auth?: RegistryUser },
  opts: { prefix?: string } = {},
): Promise<Record<FixtureName, FixtureImage>> {
  const prefix = opts.prefix ?? 'e2e-test-images/';
  const key = `${registry.host}|${prefix}`;
  let p = pushes.get(key);
  if (!p) {
    p = pushAll(registry, prefix);
    pushes.set(key, p);
    // A failed push may be retried by a later caller.
    p.catch(() => pushes.delete(key));
  }
  return p;
}

async function pushAll(
  registry: { host: string; auth?: RegistryUser },
  prefix: string,
): Promise<Record<FixtureName, FixtureImage>> {
  const build = await fixtureBuild();
  const local = await fixtureArchives();
  const pushed = await pushCatalogue(build, registry.host, { prefix, auth: registry.auth });
  const out: Partial<Record<FixtureName, FixtureImage>> = {};
  for (const name of FIXTURE_NAMES) {
    const r = pushed.get(name);
    if (!r) throw new Error(`fixture "${name}" was not pushed`);
    out[name] = {
      ...local[name],
      repository: r.repository,
      tag: r.tag,
      ref: r.reference,
      refByDigest: `${registry.host}/${r.repository}@${r.manifestDigest}`,
      manifestDigest: r.manifestDigest,
      mediaType: r.mediaType,
      childDigests: r.children.map((c) => c.digest),
    };
  }
  return out as Record<FixtureName, FixtureImage>;
}

function platformImage(i: BuiltImage, format: ManifestFormat): FixturePlatformImage {
  return {
    platform: i.platform,
    configDigest: i.configBlob.digest,
    config: i.config,
    layers: i.layers.map((l) => ({
      digest: l.digest,
      diffId: l.diffId,
      size: l.size,
      compression: l.compression,
      mediaType: layerMediaType(l, format),
    })),
  };
}
