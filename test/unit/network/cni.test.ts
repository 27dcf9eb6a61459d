/**
 * Pure parts of pod networking: CNI result formats, plugin config assembly, plugin errors, capability
 * values, config dir scanning (readiness reasons) and the default network's subnet arithmetic.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseBandwidth, podCapabilityArgs } from '../../../pkg/cni/index.js';
import { scanCniConfigs } from '../../../pkg/cni/index.js';
import { cidrsOverlap, defaultNetworkConfig } from '../../../pkg/mesos/isolators/network/default-network.js';
import {
  addNetworkList,
  checkNetworkList,
  checkSupported,
  delNetworkList,
  describePluginError,
  formatCniArgs,
  isInertPortmap,
  pluginConfig,
} from '../../../pkg/cni/index.js';
import { compareVersions, parseCniResult, podIps } from '../../../pkg/cni/index.js';
import { isKind } from '../../../pkg/util/index.js';

describe('CNI results', () => {
  it('reads 0.4.0 results (version per IP) with IPv4 and IPv6, IPv4 first', () => {
    const r = parseCniResult(
      {
        cniVersion: '0.4.0',
        interfaces: [{ name: 'cni0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/proc/1/ns/net' }],
        ips: [
          { version: '6', address: '2001:db8::7/64', gateway: '2001:db8::1', interface: 2 },
          { version: '4', address: '10.22.0.7/16', gateway: '10.22.0.1', interface: 2 },
        ],
        routes: [{ dst: '0.0.0.0/0' }],
        dns: {},
      },
      '0.4.0',
    );
    assert.equal(r.cniVersion, '0.4.0');
    assert.deepEqual(
      r.ips.map((i) => [i.ip, i.family]),
      [
        ['2001:db8::7', 6],
        ['10.22.0.7', 4],
      ],
    );
    assert.deepEqual(podIps(r, 'eth0'), ['10.22.0.7', '2001:db8::7']);
    assert.deepEqual(podIps(r, 'eth0', true), ['2001:db8::7', '10.22.0.7']);
  });

  it('reads 1.0.0 results and leaves out host-side addresses', () => {
    const r = parseCniResult(
      {
        cniVersion: '1.0.0',
        interfaces: [{ name: 'br0' }, { name: 'eth0', sandbox: '/x' }],
        ips: [
          { address: '10.0.0.1/24', interface: 0 },
          { address: '10.0.0.9/24', interface: 1 },
        ],
        dns: { nameservers: ['10.0.0.1'], search: ['a'] },
      },
      '1.0.0',
    );
    assert.deepEqual(podIps(r, 'eth0'), ['10.0.0.9']);
    assert.deepEqual(r.dns.nameservers, ['10.0.0.1']);
  });

  it('reads the pre-0.3 ip4/ip6 shape', () => {
    const r = parseCniResult({ ip4: { ip: '10.1.1.2/24', gateway: '10.1.1.1' }, ip6: { ip: 'fd00::2/64' } }, '0.2.0');
    assert.deepEqual(podIps(r, 'eth0'), ['10.1.1.2', 'fd00::2']);
    // the result's own cniVersion wins over the config's
    const r2 = parseCniResult({ cniVersion: '0.2.0', ip4: { ip: '10.1.1.3/24' } }, '0.4.0');
    assert.deepEqual(podIps(r2, 'eth0'), ['10.1.1.3']);
  });

  it('refuses malformed results', () => {
    for (const bad of [
      null,
      [],
      'x',
      { cniVersion: '1.0.0', ips: [{ address: 'not-an-ip/24' }] },
      { cniVersion: '1.0.0', ips: [{ address: '10.0.0.1/33' }] },
      { cniVersion: '1.0.0', ips: 'nope' },
    ]) {
      assert.throws(
        () => parseCniResult(bad, '1.0.0'),
        (e: unknown) => isKind(e, 'Internal'),
        JSON.stringify(bad),
      );
    }
  });

  it('compares versions numerically', () => {
    assert.ok(compareVersions('0.10.0', '0.4.0') > 0);
    assert.ok(compareVersions('0.3.1', '0.4.0') < 0);
    assert.equal(compareVersions('1.0', '1.0.0'), 0);
  });
});

describe('plugin invocation pieces', () => {
  const net = { name: 'n', cniVersion: '1.0.0' };
  it('gives a plugin only the capabilities it declares, and chains prevResult', () => {
    const caps = { capabilityArgs: { portMappings: [{ hostPort: 1 }], bandwidth: { ingressRate: 1 } } };
    const conf = pluginConfig(net, { type: 'portmap', capabilities: { portMappings: true } }, caps, { ips: [] });
    assert.deepEqual(conf.runtimeConfig, { portMappings: [{ hostPort: 1 }] });
    assert.deepEqual(conf.prevResult, { ips: [] });
    assert.equal(conf.name, 'n');
    assert.equal(conf.cniVersion, '1.0.0');
    const plain = pluginConfig(net, { type: 'bridge', runtimeConfig: { stale: 1 } }, caps, undefined);
    assert.equal(plain.runtimeConfig, undefined);
    assert.equal(plain.prevResult, undefined);
    const old = pluginConfig({ name: 'n', cniVersion: '0.2.0' }, { type: 'bridge' }, caps, { ip4: {} });
    assert.equal(old.prevResult, undefined);
  });

  it('formats CNI_ARGS and refuses values that would break the format', () => {
    assert.equal(
      formatCniArgs([
        ['A', '1'],
        ['B', 'x'],
      ]),
      'A=1;B=x',
    );
    assert.throws(() => formatCniArgs([['A', 'a;b']]));
  });

  it('turns a CNI error object into a message, else falls back to stderr', () => {
    assert.deepEqual(describePluginError('{"cniVersion":"1.0.0","code":7,"msg":"bad","details":"why"}', ''), {
      message: 'code 7: bad: why',
      code: 7,
    });
    assert.deepEqual(describePluginError('', 'panic: boom\n'), { message: 'panic: boom' });
  });

  it('runs CHECK only for 0.4.0+ lists that do not disable it', () => {
    const mk = (cniVersion: string, disableCheck?: boolean) => ({
      name: 'n',
      file: 'f',
      cniVersion,
      config: { plugins: [{ type: 'bridge' }], ...(disableCheck !== undefined ? { disableCheck } : {}) },
    });
    assert.equal(checkSupported(mk('0.3.1')), false);
    assert.equal(checkSupported(mk('0.4.0')), true);
    assert.equal(checkSupported(mk('1.0.0', true)), false);
    assert.equal(checkSupported(mk('')), false);
  });
});

describe('portmap without host ports', () => {
  const net = { name: 'net-1', cniVersion: '1.0.0' };
  const portmap = { type: 'portmap', capabilities: { portMappings: true }, snat: true };
  const prev = { cniVersion: '1.0.0', ips: [{ address: '10.0.0.9/24', interface: 1 }] };
  const none = { capabilityArgs: podCapabilityArgs({ portMappings: [], annotations: {}, dns: undefined }) };
  const conf = (plugin: Record<string, unknown>, caps = none, p: unknown = prev, n = net) =>
    pluginConfig(n, plugin, caps, p);

  it('is inert for ADD, CHECK and DEL when the pod maps no host port', () => {
    for (const cmd of ['ADD', 'CHECK', 'DEL'] as const) assert.equal(isInertPortmap(conf(portmap), cmd), true, cmd);
    // containerPort-only mappings are informational: they never reach the plugin.
    const infoOnly = {
      capabilityArgs: podCapabilityArgs({
        portMappings: [{ protocol: 'tcp', containerPort: 80, hostPort: 0, hostIp: '' }],
        annotations: {},
        dns: undefined,
      }),
    };
    assert.equal(isInertPortmap(conf(portmap, infoOnly), 'ADD'), true);
    // DEL of a half-made attachment has no result to pass: portmap's DEL needs none.
    assert.equal(isInertPortmap(pluginConfig(net, portmap, none, undefined), 'DEL'), true);
    // Other capabilities the pod uses do not matter to it.
    const bw = { capabilityArgs: { bandwidth: { ingressRate: 1 } } };
    assert.equal(
      isInertPortmap(conf({ ...portmap, capabilities: { portMappings: true, bandwidth: true } }, bw), 'ADD'),
      true,
    );
    const tuned = { ...portmap, markMasqBit: 14, conditionsV4: ['-s', '1.2.3.4'], conditionsV6: null };
    assert.equal(isInertPortmap(conf(tuned), 'ADD'), true);
    assert.equal(isInertPortmap(conf({ ...portmap, externalSetMarkChain: 'KUBE-MARK-MASQ' }), 'ADD'), true);
  });

  it('runs whenever the plugin would do or say something', () => {
    const ports = { capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } };
    const cases: Array<[string, Record<string, unknown>]> = [
      ['host ports', conf(portmap, ports)],
      ['another plugin', conf({ type: 'bridge' })],
      ['ADD without prevResult (portmap fails: not chained)', pluginConfig(net, portmap, none, undefined)],
      ['a key portmap does not know', conf({ ...portmap, backend: 'nftables' })],
      ['snat of another type', conf({ ...portmap, snat: 'yes' })],
      ['markMasqBit out of range', conf({ ...portmap, markMasqBit: 32 })],
      ['markMasqBit not an integer', conf({ ...portmap, markMasqBit: 1.5 })],
      ['markMasqBit with externalSetMarkChain', conf({ ...portmap, markMasqBit: 1, externalSetMarkChain: 'X' })],
      ['capabilities not booleans', conf({ ...portmap, capabilities: { portMappings: 'yes' } })],
      ['conditions not strings', conf({ ...portmap, conditionsV4: [1] })],
      ['a cniVersion it may not support', conf(portmap, none, prev, { name: 'net-1', cniVersion: '1.1.0' })],
      ['no cniVersion', conf(portmap, none, prev, { name: 'net-1', cniVersion: '' })],
      ['a network name skel refuses', conf(portmap, none, prev, { name: '-bad name', cniVersion: '1.0.0' })],
      ['mappings in runtimeConfig', { ...conf(portmap), runtimeConfig: { portMappings: [{ hostPort: 1 }] } }],
    ];
    for (const [why, c] of cases) {
      for (const cmd of ['ADD', 'DEL'] as const) {
        if (why.startsWith('ADD') && cmd === 'DEL') continue;
        assert.equal(isInertPortmap(c, cmd), false, `${why} (${cmd})`);
      }
    }
    assert.equal(isInertPortmap(conf(portmap), 'VERSION'), false);
  });

  it('is left out of ADD, DEL and CHECK of a list, with the result the plugin would have passed on', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-portmap-'));
    try {
      const log = path.join(dir, 'calls');
      // A fake "bridge" that prints a result and logs every call, and a "portmap" that fails if ever run.
      await fs.writeFile(
        path.join(dir, 'bridge'),
        `#!/bin/sh\necho "bridge $CNI_COMMAND" >> ${log}\n[ "$CNI_COMMAND" = ADD ] && echo '${JSON.stringify(prev)}'\nexit 0\n`,
        { mode: 0o755 },
      );
      await fs.writeFile(path.join(dir, 'portmap'), `#!/bin/sh\necho "portmap $CNI_COMMAND" >> ${log}\nexit 1\n`, {
        mode: 0o755,
      });
      const list = {
        name: 'net-1',
        file: 'f',
        cniVersion: '1.0.0',
        config: { cniVersion: '1.0.0', name: 'net-1', plugins: [{ type: 'bridge' }, portmap] },
      };
      const att = { containerId: 'c1', netns: '/proc/self/ns/net', ifname: 'eth0', args: [], ...none };
      const opts = { pluginDirs: [dir] };
      assert.deepEqual(await addNetworkList(list, att, opts), prev);
      await checkNetworkList(list, att, prev, opts);
      await delNetworkList(list, att, prev, opts);
      assert.equal(await fs.readFile(log, 'utf8'), 'bridge ADD\nbridge CHECK\nbridge DEL\n');
      // With host ports it runs (and here fails, as this fake does).
      const withPorts = {
        ...att,
        capabilityArgs: { portMappings: [{ hostPort: 1, containerPort: 1, protocol: 'tcp' }] },
      };
      await assert.rejects(addNetworkList(list, withPorts, opts), /cni plugin "portmap" ADD/);
      await assert.rejects(delNetworkList(list, withPorts, prev, opts), /cni plugin "portmap" DEL/);
      // A missing portmap binary fails as before, skipped or not.
      await fs.rm(path.join(dir, 'portmap'));
      await assert.rejects(addNetworkList(list, att, opts), (e) => isKind(e, 'FailedPrecondition'));
      await assert.rejects(delNetworkList(list, att, prev, opts), (e) => isKind(e, 'FailedPrecondition'));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('capabilities', () => {
  it('parses bandwidth quantities in bits per second', () => {
    assert.equal(parseBandwidth('a', '10M'), 10_000_000);
    assert.equal(parseBandwidth('a', '1Gi'), 2 ** 30);
    assert.equal(parseBandwidth('a', '1.5k'), 1500);
    for (const bad of ['', '0', '-1M', '10X', 'M']) {
      assert.throws(
        () => parseBandwidth('a', bad),
        (e: unknown) => isKind(e, 'InvalidArgument'),
        bad,
      );
    }
  });

  it('builds nothing for a pod that uses no capability', () => {
    assert.deepEqual(podCapabilityArgs({ portMappings: [], annotations: {}, dns: undefined }), {});
    assert.throws(
      () =>
        podCapabilityArgs({
          portMappings: [{ protocol: 'tcp', containerPort: 1, hostPort: 2, hostIp: 'nope' }],
          annotations: {},
          dns: undefined,
        }),
      (e: unknown) => isKind(e, 'InvalidArgument'),
    );
  });
});

describe('config dir scan', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-unit-cni-'));
    await fs.mkdir(path.join(dir, 'bin'));
    await fs.writeFile(path.join(dir, 'bin', 'good'), '#!/bin/sh\n', { mode: 0o755 });
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });
  const scan = () => scanCniConfigs(path.join(dir, 'cni'), [path.join(dir, 'bin')]);

  it('names why no network is usable, and picks the first valid file in lexical order', async () => {
    assert.equal((await scan()).reason, 'NoCNIConfig'); // dir absent
    await fs.mkdir(path.join(dir, 'cni'));
    assert.equal((await scan()).reason, 'NoCNIConfig');
    await fs.writeFile(path.join(dir, 'cni', '05-broken.conflist'), '{ nope');
    assert.equal((await scan()).reason, 'InvalidCNIConfig');
    await fs.writeFile(path.join(dir, 'cni', '06-evil.conf'), JSON.stringify({ name: 'e', type: '../../bin/sh' }));
    assert.equal((await scan()).reason, 'InvalidCNIConfig');
    await fs.writeFile(path.join(dir, 'cni', '10-missing.conf'), JSON.stringify({ name: 'm', type: 'absent' }));
    const missing = await scan();
    assert.equal(missing.reason, 'CNIPluginMissing');
    assert.match(missing.problems.join('\n'), /absent/);
    await fs.writeFile(
      path.join(dir, 'cni', '30-b.conflist'),
      JSON.stringify({ cniVersion: '1.0.0', name: 'b', plugins: [{ type: 'good' }] }),
    );
    await fs.writeFile(path.join(dir, 'cni', '20-a.conf'), JSON.stringify({ name: 'a', type: 'good' }));
    const ok = await scan();
    assert.equal(ok.reason, undefined);
    assert.deepEqual(
      ok.networks.map((n) => [n.name, n.cniVersion]),
      [
        ['a', ''],
        ['b', '1.0.0'],
      ],
    );
    assert.deepEqual(ok.networks[0]!.config.plugins, [{ type: 'good' }]);
  });
});

describe('default network', () => {
  it('finds overlapping IPv4 prefixes', () => {
    assert.ok(cidrsOverlap('10.88.0.0/16', '10.88.3.0/24'));
    assert.ok(cidrsOverlap('10.0.0.0/8', '10.88.0.0/16'));
    assert.ok(!cidrsOverlap('10.88.0.0/16', '10.89.0.0/16'));
    assert.ok(cidrsOverlap('10.88.0.0/16', '10.88.0.1'));
    assert.ok(!cidrsOverlap('10.88.0.0/16', 'garbage'));
  });

  it('is a bridge + host-local + portmap list of cniVersion 1.0.0', () => {
    const c = defaultNetworkConfig('10.88.0.0/16', { firewall: false, ipamDataDir: '/x' });
    assert.equal(c.cniVersion, '1.0.0');
    assert.deepEqual(
      c.plugins.map((p) => p.type),
      ['bridge', 'portmap'],
    );
    assert.deepEqual((c.plugins[0]!.ipam as { ranges: unknown }).ranges, [[{ subnet: '10.88.0.0/16' }]]);
    assert.deepEqual(c.plugins[1]!.capabilities, { portMappings: true });
    assert.deepEqual(
      defaultNetworkConfig('10.88.0.0/16', { firewall: true }).plugins.map((p) => p.type),
      ['bridge', 'portmap', 'firewall'],
    );
  });
});
