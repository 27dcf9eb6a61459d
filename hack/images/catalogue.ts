/**
 * The named fixture images. To add one, append a definition to `fixtureCatalogue`: a name (it becomes the
 * repository `<prefix><name>`), the manifest format it is pushed in, and a spec built from `Layer`s. Reuse the
 * `base` layer object where the busybox base is wanted, so it is built once and shared by digest.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { InvalidArgumentError } from '../../pkg/util/index.js';
import { BUSYBOX_PATH, busyboxLayer, DEFAULT_PATH, loadBusybox } from './busybox.js';
import type { ImageSpec, IndexSpec, ManifestFormat, RuntimeConfig } from './image.js';
import { type Compression, type FileContent, Layer } from './layer.js';

/** One named fixture. */
export interface FixtureDefinition {
  name: string;
  description: string;
  /** Manifest format of the push (the OCI layout and archive are always OCI). */
  format: ManifestFormat;
  spec: ImageSpec | IndexSpec;
}

/** Size of the optional `large` fixture (benchmarks). */
export interface LargeOptions {
  layers: number;
  mib: number;
  compression?: Compression;
}

/** Options of the catalogue. */
export interface CatalogueOptions {
  busybox?: string;
  /** Adds the `large` fixture: busybox base plus `layers` layers of `mib` MiB of deterministic noise. */
  large?: LargeOptions;
}

const SH: RuntimeConfig = { Env: [DEFAULT_PATH], Cmd: ['sh'] };

/** Builds the list of fixture definitions (reads the host busybox). */
export async function fixtureCatalogue(opts: CatalogueOptions = {}): Promise<FixtureDefinition[]> {
  const bb = await loadBusybox(opts.busybox ?? BUSYBOX_PATH);
  const base = busyboxLayer(bb);
  const image = (config: RuntimeConfig, ...extra: Layer[]): ImageSpec => ({
    kind: 'image',
    config,
    layers: [base, ...extra],
  });
  const defs: FixtureDefinition[] = [
    { name: 'busybox', description: 'busybox base, Cmd ["sh"]', format: 'docker', spec: image(SH) },
    { name: 'busybox-oci', description: 'busybox base pushed as OCI', format: 'oci', spec: image(SH) },
    {
      name: 'busybox-user',
      description: 'User "test" (1002:1003 in /etc/passwd, also in group 50000), Cmd ["id"]',
      format: 'docker',
      spec: image({ ...SH, User: 'test', Cmd: ['id'] }),
    },
    {
      name: 'busybox-user-numeric',
      description: 'User "1002:1003", Cmd ["id"]',
      format: 'docker',
      spec: image({ ...SH, User: '1002:1003', Cmd: ['id'] }),
    },
    {
      name: 'busybox-entrypoint',
      description: 'Entrypoint ["/bin/echo","from-entrypoint"], Cmd ["cmd-arg"]',
      format: 'docker',
      spec: image({ Env: [DEFAULT_PATH], Entrypoint: ['/bin/echo', 'from-entrypoint'], Cmd: ['cmd-arg'] }),
    },
    {
      name: 'busybox-env',
      description: 'Env FOO=bar, WITH_EQUALS=a=b=c, EMPTY=; WorkingDir /work (holds hello.txt)',
      format: 'docker',
      spec: image(
        { Env: [DEFAULT_PATH, 'FOO=bar', 'WITH_EQUALS=a=b=c', 'EMPTY='], Cmd: ['sh'], WorkingDir: '/work' },
        new Layer({ createdBy: 'WORKDIR /work' }).dir('work').file('work/hello.txt', 'hello from /work\n'),
      ),
    },
    {
      name: 'busybox-metadata',
      description: 'Labels, StopSignal SIGUSR1, Volumes /data, ExposedPorts 8080/tcp 53/udp',
      format: 'oci',
      spec: image({
        ...SH,
        Labels: { 'org.ucri.fixture': 'metadata', maintainer: 'ucri' },
        StopSignal: 'SIGUSR1',
        Volumes: { '/data': {} },
        ExposedPorts: { '8080/tcp': {}, '53/udp': {} },
      }),
    },
    { name: 'busybox-layers', description: LAYERS_DESCRIPTION, format: 'oci', spec: image(SH, ...layeredLayers()) },
    {
      name: 'busybox-zstd',
      description: 'busybox base as one zstd-compressed OCI layer',
      format: 'oci',
      spec: { kind: 'image', config: SH, layers: [busyboxLayer(bb, { compression: 'zstd' })] },
    },
    {
      name: 'busybox-pause',
      description: 'Entrypoint ["/bin/sleep","2147483647"]: a stand-in for the pause image (docker pods)',
      format: 'docker',
      spec: image({ Env: [DEFAULT_PATH], Entrypoint: ['/bin/sleep', '2147483647'] }),
    },
    {
      name: 'busybox-httpd',
      description: 'Cmd httpd -f -p 80 -h /www; /www/index.html says "hello from ucri fixture"',
      format: 'docker',
      spec: image(
        { Env: [DEFAULT_PATH], Cmd: ['httpd', '-f', '-p', '80', '-h', '/www'], ExposedPorts: { '80/tcp': {} } },
        new Layer({ createdBy: 'COPY index.html /www/' })
          .dir('www')
          .file('www/index.html', 'hello from ucri fixture\n'),
      ),
    },
    { name: 'multiarch', description: MULTIARCH_DESCRIPTION, format: 'oci', spec: multiarch(image) },
    {
      name: 'multiarch-docker',
      description: 'as multiarch, pushed as a Docker manifest list',
      format: 'docker',
      spec: multiarch(image),
    },
  ];
  if (opts.large) defs.push(largeFixture(base, opts.large));
  return defs;
}

/** What the `busybox-layers` rootfs looks like once its four layers are applied. */
export const LAYERS_DESCRIPTION =
  '4 layers (gzip, gzip, gzip, uncompressed): /data/remove-me.txt and /data/dir-removed whited out, ' +
  '/data/opaque opaque (only new.txt left), /data/replaced.txt = "v2", /data/hardlink-dst.txt hard link of ' +
  'hardlink-src.txt, /bin/setuid-file mode 4755, symlinks /data/link-rel -> keep.txt and /data/link-abs -> ' +
  '/data/keep.txt, /data/owned 0750 1002:1003, /data/layer4.txt from the uncompressed layer';

function layeredLayers(): Layer[] {
  const l2 = new Layer({ createdBy: 'ADD data' })
    .dir('data')
    .file('data/remove-me.txt', 'to be removed\n')
    .file('data/keep.txt', 'kept\n')
    .file('data/replaced.txt', 'v1\n')
    .dir('data/opaque')
    .file('data/opaque/old-a.txt', 'old a\n')
    .file('data/opaque/old-b.txt', 'old b\n')
    .dir('data/dir-removed')
    .file('data/dir-removed/a.txt', 'a\n')
    .dir('data/owned', { mode: 0o750, uid: 1002, gid: 1003 })
    .file('data/owned/secret.txt', 'secret\n', { mode: 0o600, uid: 1002, gid: 1003 });
  const l3 = new Layer({ createdBy: 'RUN rm, opaque dir, links, setuid' })
    .dir('data')
    .whiteout('data/remove-me.txt')
    .whiteout('data/dir-removed')
    .dir('data/opaque')
    .opaque('data/opaque')
    .file('data/opaque/new.txt', 'new\n')
    .file('data/replaced.txt', 'v2\n')
    .file('data/hardlink-src.txt', 'linked\n')
    .hardlink('data/hardlink-dst.txt', 'data/hardlink-src.txt')
    .symlink('data/link-rel', 'keep.txt')
    .symlink('data/link-abs', '/data/keep.txt')
    .dir('bin')
    .file('bin/setuid-file', '#!/bin/sh\nid\n', { mode: 0o4755 });
  const l4 = new Layer({ compression: 'none', createdBy: 'ADD layer4.txt' })
    .dir('data')
    .file('data/layer4.txt', 'uncompressed layer\n');
  return [l2, l3, l4];
}

/** What the multi-platform fixtures hold. */
export const MULTIARCH_DESCRIPTION =
  'index of linux/amd64 (busybox base, label arch=amd64) and linux/arm64/v8 (one dummy layer, not runnable)';

function multiarch(image: (c: RuntimeConfig, ...extra: Layer[]) => ImageSpec): IndexSpec {
  const amd64 = image({ ...SH, Labels: { arch: 'amd64' } });
  const arm64: ImageSpec = {
    kind: 'image',
    platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
    config: { ...SH, Labels: { arch: 'arm64' } },
    layers: [new Layer({ createdBy: 'arm64 placeholder' }).file('README', 'arm64 placeholder layer\n')],
  };
  return { kind: 'index', images: [amd64, arm64] };
}

/** The `large` fixture: busybox base plus layers of deterministic, incompressible data. */
export function largeFixture(base: Layer, opts: LargeOptions): FixtureDefinition {
  if (!Number.isInteger(opts.layers) || opts.layers < 1 || opts.layers > 128) {
    throw new InvalidArgumentError(`large: layer count ${opts.layers} not in 1..128`);
  }
  if (!(opts.mib > 0 && opts.mib <= 4096))
    throw new InvalidArgumentError(`large: size ${opts.mib} MiB not in (0, 4096]`);
  const layers: Layer[] = [];
  for (let i = 0; i < opts.layers; i++) {
    layers.push(
      new Layer({ compression: opts.compression ?? 'gzip', createdBy: `large layer ${i}` }).file(
        `large/layer-${i}.bin`,
        noise(`ucri-large-${i}`, Math.round(opts.mib * 1024 * 1024)),
      ),
    );
  }
  return {
    name: 'large',
    description: `${opts.layers} layers of ${opts.mib} MiB of deterministic noise over the busybox base`,
    format: 'oci',
    spec: { kind: 'image', config: SH, layers: [base, ...layers] },
  };
}

/** `size` bytes of AES-CTR keystream keyed by `seed`: fast, incompressible, the same on every build. */
export function noise(seed: string, size: number): FileContent {
  return {
    size,
    chunks: async function* () {
      const key = createHash('sha256').update(seed).digest().subarray(0, 16);
      const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
      const zero = Buffer.alloc(1 << 20);
      for (let left = size; left > 0; left -= zero.byteLength) {
        yield cipher.update(left >= zero.byteLength ? zero : zero.subarray(0, left));
      }
    },
  };
}
