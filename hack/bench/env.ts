/**
 * What both runtimes of a bench share: one local registry holding the busybox fixture, a pause-like image
 * (containerd's sandbox image) and the large multi-layer image, and one CNI config dir with one bridge
 * network (random bridge name, free /24 picked from a random start, host-local state under the bench root).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { run } from '../../pkg/sys/index.js';
import {
  BlobStore,
  BUSYBOX_PATH,
  busyboxLayer,
  DEFAULT_PATH,
  ImageBuilder,
  largeFixture,
  loadBusybox,
  RegistryClient,
} from '../images/index.js';
import { type RunningRegistry, startRegistry } from '../registry/index.js';
import { removeNatRulesOf } from '../../test/support/nat-rules.js';
import { randomFreeSubnet24 } from '../../test/support/subnet.js';

export const CNI_PLUGINS_DIR = '/usr/lib/cni';

/** The shared set-up of one bench run. */
export interface BenchEnv {
  root: string;
  registry: RunningRegistry;
  /** busybox, Cmd sh: the workload image. */
  busybox: string;
  /** busybox whose entrypoint sleeps for ever: containerd's sandbox_image. */
  pause: string;
  /** busybox base plus `largeLayers` layers of incompressible noise (~50 MB compressed). */
  large: string;
  largeBytes: number;
  cniConfigDir: string;
  bridge: string;
  subnet: string;
  close(): Promise<void>;
}

/** The large image: 6 layers × 8 MiB of noise over busybox, about 50 MB compressed. */
const LARGE = { layers: 6, mib: 8 };

export async function startBenchEnv(root: string, progress: (msg: string) => void): Promise<BenchEnv> {
  const registry = await startRegistry();
  const tag = randomBytes(3).toString('hex');
  const bridge = `ucribench${tag}`.slice(0, 15);
  const network = `ucri-bench-${tag}`;
  const ipamDir = path.join(root, 'cni-ipam');
  const close = async (): Promise<void> => {
    await registry.stop();
    await run('ip', ['link', 'del', bridge], { allowFailure: true });
    // Pods of a run that failed midway keep their masquerade rules after the daemons and the bridge are gone.
    await removeNatRulesOf(network);
  };
  try {
    progress('building and pushing images (busybox, pause, large)');
    const store = new BlobStore(path.join(root, 'images'));
    await store.init();
    const builder = new ImageBuilder(store);
    const base = busyboxLayer(await loadBusybox(BUSYBOX_PATH));
    const client = new RegistryClient(store, { registry: registry.host });
    const push = async (name: string, built: Awaited<ReturnType<ImageBuilder['image']>>): Promise<string> => {
      const r = await client.push(built, `bench/${name}`, 'latest', 'docker');
      return r.reference;
    };
    const busybox = await push(
      'busybox',
      await builder.image({ kind: 'image', config: { Env: [DEFAULT_PATH], Cmd: ['sh'] }, layers: [base] }),
    );
    const pause = await push(
      'pause',
      await builder.image({
        kind: 'image',
        config: { Env: [DEFAULT_PATH], Entrypoint: ['/bin/sleep', '2147483647'] },
        layers: [base],
      }),
    );
    const largeSpec = largeFixture(base, LARGE).spec;
    if (largeSpec.kind !== 'image') throw new Error('large fixture is not a single image');
    const largeBuilt = await builder.image(largeSpec);
    const large = await push('large', largeBuilt);
    const largeBytes = largeBuilt.layers.reduce((n, l) => n + l.size, 0);

    const cniConfigDir = path.join(root, 'cni');
    await fs.mkdir(cniConfigDir, { recursive: true });
    const subnet = await randomFreeSubnet24(236);
    // The shape of ucri's default network (bridge + host-local + portmap), without the firewall plugin,
    // whose chains outlive the bench.
    const conflist = {
      cniVersion: '1.0.0',
      name: network,
      plugins: [
        {
          type: 'bridge',
          bridge,
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: ipamDir },
        },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    };
    await fs.writeFile(path.join(cniConfigDir, '10-bench.conflist'), JSON.stringify(conflist));
    return { root, registry, busybox, pause, large, largeBytes, cniConfigDir, bridge, subnet, close };
  } catch (err) {
    await close();
    throw err;
  }
}
