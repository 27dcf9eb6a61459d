/**
 * No leaked addresses: 200 pods attached and detached (in parallel batches) through the network/cni
 * isolator with the real bridge, host-local and portmap plugins leave host-local's store, the bridge and
 * the nat table as they were. Also: the default network `--install-default-network` writes.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, it } from 'node:test';
import type { PodContext } from '../../../pkg/mesos/isolator.js';
import {
  CniIsolator,
  DEFAULT_BRIDGE,
  DEFAULT_NETWORK_FILE,
  installDefaultNetwork,
  scanCniConfigs,
} from '../../../pkg/mesos/isolators/network/index.js';
import { removePinnedNamespaces, run } from '../../../pkg/sys/index.js';
import { configureLogging } from '../../../pkg/util/index.js';
import { PLUGIN_DIRS, type TestBed, testBed } from './support.js';

let bed: TestBed;
const never = new AbortController().signal;
const PODS = 200;
const BATCH = 20;

before(async () => {
  configureLogging({ silent: true });
  bed = await testBed('net-leak');
  await bed.writeConfig(bed.bridgeConflist());
});

after(async () => {
  await bed?.close();
});

it(`leaves no address, veth or nat rule after ${PODS} pods come and go`, async () => {
  const cni = new CniIsolator({ configDir: bed.configDir, pluginDirs: PLUGIN_DIRS, stateDir: bed.stateDir });
  await cni.recover([]);
  const natBefore = (await run('iptables-save', ['-t', 'nat'])).stdout.split('\n').filter((l) => l.startsWith('-A'));
  const seen = new Set<string>();
  for (let done = 0; done < PODS; done += BATCH) {
    const pods: PodContext[] = await Promise.all(
      Array.from({ length: BATCH }, (_, i) =>
        bed.pod({ portMappings: [{ protocol: 'tcp', containerPort: 80, hostPort: 31000 + done + i, hostIp: '' }] }),
      ),
    );
    await Promise.all(pods.map((p) => cni.setupPod(p, never)));
    for (const p of pods) {
      assert.equal(p.state.ips.length, 1);
      seen.add(p.state.ips[0]!);
    }
    assert.equal((await bed.leasedIps()).length, BATCH);
    await Promise.all(pods.map((p) => cni.teardownPod(p, never)));
    await Promise.all(pods.map((p) => removePinnedNamespaces(bed.pinRoot, p.state.id)));
  }
  // host-local hands out addresses round robin: 200 pods saw many different addresses, and hold none now.
  assert.ok(seen.size >= BATCH, `only ${seen.size} distinct addresses`);
  assert.deepEqual(await bed.leasedIps(), []);
  assert.deepEqual(await bed.bridgePorts(), []);
  assert.deepEqual(await fs.readdir(bed.stateDir), []);
  const natAfter = (await run('iptables-save', ['-t', 'nat'])).stdout.split('\n').filter((l) => l.startsWith('-A'));
  // The shared chains' jumps may be new (the first pod made them); per-pod rules must all be gone.
  const perPod = natAfter.filter((l) => !natBefore.includes(l) && /--dport 3\d{4}|id: "/.test(l));
  assert.deepEqual(perPod, []);
});

it('installs a default network on a free subnet only when the config dir has no usable one', async () => {
  const dir = path.join(bed.dir, 'default-cni');
  await fs.mkdir(dir);
  const file = await installDefaultNetwork(dir, PLUGIN_DIRS, { ipamDataDir: path.join(bed.dir, 'default-ipam') });
  assert.equal(file, path.join(dir, DEFAULT_NETWORK_FILE));
  const scan = await scanCniConfigs(dir, PLUGIN_DIRS);
  assert.equal(scan.networks.length, 1);
  const net = scan.networks[0]!;
  assert.equal(net.name, 'ucri');
  assert.equal(net.cniVersion, '1.0.0');
  assert.deepEqual(net.config.plugins.map((p) => p.type).slice(0, 2), ['bridge', 'portmap']);
  const subnet = (net.config.plugins[0]!.ipam as { ranges: Array<Array<{ subnet: string }>> }).ranges[0]![0]!.subnet;
  // The subnet of an earlier default network's own bridge is ours to reuse; any other route must not overlap.
  const routes = (await run('ip', ['-4', '-o', 'route', 'show', 'table', 'all'])).stdout
    .split('\n')
    .filter((l) => !l.includes(`dev ${DEFAULT_BRIDGE} `))
    .join('\n');
  assert.ok(!routes.includes(subnet.split('/')[0]!.split('.').slice(0, 2).join('.') + '.'), `${subnet} is routed`);
  // A second call sees the usable network and writes nothing.
  const before = await fs.readFile(file, 'utf8');
  assert.equal(await installDefaultNetwork(dir, PLUGIN_DIRS), undefined);
  assert.equal(await fs.readFile(file, 'utf8'), before);
});
