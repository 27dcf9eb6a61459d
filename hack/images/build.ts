/**
 * Builds the whole catalogue into one output directory and pushes it:
 *
 *   <out>/
 *     store/                         the blob store (blobs/, diffs/, tmp/)
 *     oci/<name>/                    OCI image layout, ref "latest"
 *     oci-archive/<name>.tar         the same as an OCI archive
 *     docker-archive/<name>.tar      `docker save` archive, RepoTags ["<name>:latest"] (amd64 image of an index)
 *     docker-registry/<name>:latest.tar   hard links of the above, laid out for Mesos `--docker_registry=<dir>`
 *     catalogue.json                 summary: names, formats, digests, paths
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic } from '../../pkg/util/index.js';
import { BlobStore } from './blob-store.js';
import { type CatalogueOptions, type FixtureDefinition, fixtureCatalogue } from './catalogue.js';
import { writeDockerArchive } from './docker-archive.js';
import { type BuiltImage, type BuiltIndex, ImageBuilder, type ManifestFormat } from './image.js';
import { writeOciArchive, writeOciLayout } from './oci-layout.js';
import { type PushResult, RegistryClient, type RegistryClientOptions } from './push.js';
import { linkOrCopy } from './tar-file.js';

/** Files written for one fixture. */
export interface FixturePaths {
  ociLayout: string;
  ociArchive: string;
  dockerArchive: string;
  /** The docker archive named `<name>:latest.tar` inside `dockerRegistryDir`. */
  mesosArchive: string;
}

/** One built fixture. */
export interface BuiltFixture {
  name: string;
  description: string;
  format: ManifestFormat;
  built: BuiltImage | BuiltIndex;
  /** Digest of the OCI manifest (or index) in the OCI layout and archive. */
  ociDigest: string;
  paths: FixturePaths;
}

/** A built catalogue. */
export interface CatalogueBuild {
  outDir: string;
  store: BlobStore;
  /** Directory of `<name>:latest.tar` docker archives (Mesos `--docker_registry`). */
  dockerRegistryDir: string;
  fixtures: Map<string, BuiltFixture>;
}

/** Builds every fixture into `outDir` (created; existing fixture outputs there are an error). */
export async function buildCatalogue(
  outDir: string,
  opts: CatalogueOptions = {},
  signal?: AbortSignal,
): Promise<CatalogueBuild> {
  const store = new BlobStore(path.join(outDir, 'store'));
  await store.init();
  const builder = new ImageBuilder(store);
  const dockerRegistryDir = path.join(outDir, 'docker-registry');
  await fs.mkdir(dockerRegistryDir, { recursive: true });
  await fs.mkdir(path.join(outDir, 'oci'), { recursive: true });
  const fixtures = new Map<string, BuiltFixture>();
  for (const def of await fixtureCatalogue(opts)) {
    fixtures.set(def.name, await buildFixture(builder, def, outDir, dockerRegistryDir, signal));
  }
  const summary = [...fixtures.values()].map((f) => ({
    name: f.name,
    description: f.description,
    format: f.format,
    ociDigest: f.ociDigest,
    images: (f.built.kind === 'image' ? [f.built] : f.built.images).map((i) => ({
      platform: i.platform,
      configDigest: i.configBlob.digest,
      layers: i.layers.map((l) => ({ digest: l.digest, diffId: l.diffId, size: l.size, compression: l.compression })),
    })),
    paths: f.paths,
  }));
  await writeJsonAtomic(path.join(outDir, 'catalogue.json'), summary);
  return { outDir, store, dockerRegistryDir, fixtures };
}

async function buildFixture(
  builder: ImageBuilder,
  def: FixtureDefinition,
  outDir: string,
  dockerRegistryDir: string,
  signal?: AbortSignal,
): Promise<BuiltFixture> {
  const built = await builder.build(def.spec, signal);
  const paths: FixturePaths = {
    ociLayout: path.join(outDir, 'oci', def.name),
    ociArchive: path.join(outDir, 'oci-archive', `${def.name}.tar`),
    dockerArchive: path.join(outDir, 'docker-archive', `${def.name}.tar`),
    mesosArchive: path.join(dockerRegistryDir, `${def.name}:latest.tar`),
  };
  const layout = await writeOciLayout(builder.store, built, paths.ociLayout);
  await writeOciArchive(builder.store, built, paths.ociArchive, 'latest', signal);
  const single = built.kind === 'image' ? built : built.images[0];
  if (single) {
    await writeDockerArchive(builder.store, single, paths.dockerArchive, [`${def.name}:latest`], signal);
    await fs.rm(paths.mesosArchive, { force: true });
    await linkOrCopy(paths.dockerArchive, paths.mesosArchive);
  }
  return {
    name: def.name,
    description: def.description,
    format: def.format,
    built,
    ociDigest: layout.top.digest,
    paths,
  };
}

/** Options of a catalogue push. */
export interface PushCatalogueOptions extends Omit<RegistryClientOptions, 'registry'> {
  /** Repository prefix, e.g. `e2e-test-images/` (default); the repository is `<prefix><name>`. */
  prefix?: string;
  tag?: string;
  /** Only these fixtures (default all). */
  names?: string[];
}

/** Pushes every fixture of a build to `registry` (`host:port`), each in its own format. */
export async function pushCatalogue(
  build: CatalogueBuild,
  registry: string,
  opts: PushCatalogueOptions = {},
  signal?: AbortSignal,
): Promise<Map<string, PushResult>> {
  const client = new RegistryClient(build.store, { ...opts, registry });
  const prefix = opts.prefix ?? 'e2e-test-images/';
  const results = new Map<string, PushResult>();
  for (const f of build.fixtures.values()) {
    if (opts.names && !opts.names.includes(f.name)) continue;
    results.set(f.name, await client.push(f.built, `${prefix}${f.name}`, opts.tag ?? 'latest', f.format, signal));
  }
  return results;
}
