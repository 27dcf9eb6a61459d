/**
 * The default network's subnet choice against what is already configured on the host: a subnet claimed by
 * another CNI config (even one whose plugins are missing here, like podman's when its bridge does not exist
 * yet) or by a podman/netavark network is never picked, nor one a host route or address uses.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  configuredSubnets,
  DEFAULT_BRIDGE,
  DEFAULT_SUBNET_CANDIDATES,
  installDefaultNetwork,
  pickFreeSubnet,
} from '../../../pkg/mesos/isolators/network/index.js';
import { cidrsOverlap } from '../../../pkg/mesos/isolators/network/default-network.js';
import { PLUGIN_DIRS } from './support.js';

describe('default network subnet', () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-defnet-'));
  });
  after(() => fs.rm(tmp, { recursive: true, force: true }));

  /** A podman-style CNI list whose plugin is not installed: unusable here, but its subnet is taken. */
  const podmanConflist = (subnet: string) => ({
    cniVersion: '0.4.0',
    name: 'podman',
    plugins: [
      {
        type: 'ucri-test-no-such-plugin',
        bridge: 'cni-podman0',
        ipam: { type: 'host-local', ranges: [[{ subnet, gateway: subnet.replace(/0\/\d+$/, '1') }]] },
      },
    ],
  });

  it('collects the subnets of every network config, usable or not', async () => {
    const dir = path.join(tmp, 'collect');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, '87-podman.conflist'), JSON.stringify(podmanConflist('10.88.0.0/16')));
    await fs.writeFile(
      path.join(dir, '20-old.conf'),
      JSON.stringify({ name: 'old', type: 'bridge', ipam: { type: 'host-local', subnet: '172.30.5.0/24' } }),
    );
    await fs.writeFile(path.join(dir, 'broken.conflist'), '{ not json');
    await fs.writeFile(path.join(dir, 'README'), 'subnet 10.1.0.0/16');
    const netavark = path.join(tmp, 'networks');
    await fs.mkdir(netavark);
    await fs.writeFile(
      path.join(netavark, 'podman.json'),
      JSON.stringify({ name: 'podman', driver: 'bridge', subnets: [{ subnet: '10.89.0.0/24', gateway: '10.89.0.1' }] }),
    );
    assert.deepEqual((await configuredSubnets([dir, netavark, path.join(tmp, 'missing')])).sort(), [
      '10.88.0.0/16',
      '10.89.0.0/24',
      '172.30.5.0/24',
    ]);
    assert.deepEqual(await configuredSubnets([dir], path.join(dir, '87-podman.conflist')), ['172.30.5.0/24']);
  });

  it('installs on a subnet that no other network config claims', async () => {
    // What this host would give without other configs, then the next one: both claimed below.
    const first = await pickFreeSubnet(DEFAULT_SUBNET_CANDIDATES, DEFAULT_BRIDGE);
    const second = await pickFreeSubnet(
      DEFAULT_SUBNET_CANDIDATES.filter((c) => c !== first),
      DEFAULT_BRIDGE,
    );
    const dir = path.join(tmp, 'install');
    const netavark = path.join(tmp, 'install-networks');
    await fs.mkdir(dir);
    await fs.mkdir(netavark);
    await fs.writeFile(path.join(dir, '87-podman.conflist'), JSON.stringify(podmanConflist(first)));
    await fs.writeFile(
      path.join(netavark, 'other.json'),
      JSON.stringify({ name: 'other', driver: 'bridge', subnets: [{ subnet: second.replace('.0.0/16', '.7.0/24') }] }),
    );
    const file = await installDefaultNetwork(dir, PLUGIN_DIRS, { firewall: false, otherNetworkDirs: [netavark] });
    assert.ok(file, 'the podman list is unusable here, so the default network is installed');
    const conf = JSON.parse(await fs.readFile(file, 'utf8')) as {
      plugins: Array<{ ipam?: { ranges: Array<Array<{ subnet: string }>> } }>;
    };
    const subnet = conf.plugins[0]!.ipam!.ranges[0]![0]!.subnet;
    assert.ok(DEFAULT_SUBNET_CANDIDATES.includes(subnet), subnet);
    assert.ok(!cidrsOverlap(subnet, first), `${subnet} overlaps the podman config's ${first}`);
    assert.ok(!cidrsOverlap(subnet, second), `${subnet} overlaps the netavark network in ${second}`);
  });
});
