/**
 * What the isolator hands to plugins, seen by a recording test plugin: the CNI environment (CNI_ARGS with
 * the kubelet keys), the stdin config with runtimeConfig limited to declared capabilities, prevResult
 * chaining, DEL in reverse order, and a 1.0.0 result with IPv4 and IPv6 turned into the pod's IPs.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import type { PodContext } from '../../../pkg/mesos/isolator.js';
import { CniIsolator } from '../../../pkg/mesos/isolators/network/index.js';
import { configureLogging, isKind } from '../../../pkg/util/index.js';
import { newPodId, podSpec } from './support.js';

let dir: string;
const never = new AbortController().signal;

// Records env and stdin per call as <rec>/<seq>-<name>-<COMMAND>.{env,json}, and answers ADD with the
// canned result of its own name (or the prevResult it got, for the second plugin of the list).
const PLUGIN = `#!/bin/sh
rec="$(dirname "$0")/../rec"
n=$(ls "$rec" | wc -l)
base="$rec/$(printf %03d "$n")-$(basename "$0")-$CNI_COMMAND"
env > "$base.env"
cat > "$base.json"
[ "$CNI_COMMAND" = ADD ] || exit 0
if [ -f "$(dirname "$0")/../$(basename "$0").result" ]; then cat "$(dirname "$0")/../$(basename "$0").result"; else
  sed -n 's/.*"prevResult":\\(.*\\)}$/\\1/p' "$base.json"; fi
`;

const RESULT = {
  cniVersion: '1.0.0',
  interfaces: [
    { name: 'cni0', mac: '00:11:22:33:44:55' },
    { name: 'eth0', mac: '00:11:22:33:44:66', sandbox: '/var/run/netns/x' },
  ],
  ips: [
    { address: 'fd00:10::5/64', gateway: 'fd00:10::1', interface: 1 },
    { address: '10.1.2.1/24', interface: 0 },
    { address: '10.1.2.5/24', gateway: '10.1.2.1', interface: 1 },
  ],
  dns: { nameservers: ['10.1.2.1'] },
};

before(async () => {
  configureLogging({ silent: true });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-net-args-'));
  await fs.mkdir(path.join(dir, 'bin'));
  await fs.mkdir(path.join(dir, 'rec'));
  await fs.mkdir(path.join(dir, 'cni'));
  for (const name of ['rec-first', 'rec-second']) {
    await fs.writeFile(path.join(dir, 'bin', name), PLUGIN, { mode: 0o755 });
  }
  await fs.writeFile(path.join(dir, 'rec-first.result'), JSON.stringify(RESULT));
  await fs.writeFile(
    path.join(dir, 'cni', '20-rec.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'recnet',
      plugins: [
        { type: 'rec-first', capabilities: { portMappings: true, bandwidth: true, dns: true, ipRanges: true } },
        { type: 'rec-second', capabilities: { portMappings: false } },
      ],
    }),
  );
  // A later file in lexical order is not the default network.
  await fs.writeFile(path.join(dir, 'cni', '30-other.conf'), JSON.stringify({ name: 'other', type: 'rec-second' }));
});

after(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

async function calls(): Promise<Array<{ name: string; env: Record<string, string>; stdin: Record<string, unknown> }>> {
  const names = (await fs.readdir(path.join(dir, 'rec'))).filter((n) => n.endsWith('.json')).sort();
  const out = [];
  for (const n of names) {
    const base = n.slice(0, -'.json'.length);
    const envText = await fs.readFile(path.join(dir, 'rec', `${base}.env`), 'utf8');
    const env = Object.fromEntries(
      envText
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    out.push({
      name: base.slice(4),
      env,
      stdin: JSON.parse(await fs.readFile(path.join(dir, 'rec', n), 'utf8')) as Record<string, unknown>,
    });
  }
  return out;
}

it('passes CNI_ARGS, capabilities and prevResult, and reports IPv4 then IPv6 from a 1.0.0 result', async () => {
  const cni = new CniIsolator({
    configDir: path.join(dir, 'cni'),
    pluginDirs: [path.join(dir, 'bin')],
    stateDir: path.join(dir, 'state'),
    podCidr: () => '10.1.0.0/16,fd00:10::/56',
  });
  const id = newPodId();
  const netns = path.join(dir, 'fake-netns');
  const pod: PodContext = {
    spec: podSpec(id, {
      name: 'web',
      namespace: 'shop',
      uid: 'u-123',
      portMappings: [
        { protocol: 'tcp', containerPort: 80, hostPort: 8080, hostIp: '127.0.0.1' },
        { protocol: 'udp', containerPort: 53, hostPort: 0, hostIp: '' },
      ],
      annotations: { 'kubernetes.io/ingress-bandwidth': '1M', 'kubernetes.io/egress-bandwidth': '2Mi' },
      dns: { servers: ['1.1.1.1'], searches: ['svc.local'], options: ['ndots:2'] },
    }),
    state: { id, netns, dir, cgroup: '', ips: [], infraPid: 0, data: {} },
  };
  await cni.setupPod(pod, never);
  assert.deepEqual(pod.state.ips, ['10.1.2.5', 'fd00:10::5']);

  let c = await calls();
  assert.deepEqual(
    c.map((x) => x.name),
    ['rec-first-ADD', 'rec-second-ADD'],
  );
  const [first, second] = c;
  assert.equal(first!.env.CNI_COMMAND, 'ADD');
  assert.equal(first!.env.CNI_CONTAINERID, id);
  assert.equal(first!.env.CNI_NETNS, netns);
  assert.equal(first!.env.CNI_IFNAME, 'eth0');
  assert.equal(first!.env.CNI_PATH, path.join(dir, 'bin'));
  assert.equal(
    first!.env.CNI_ARGS,
    `IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=${id};K8S_POD_UID=u-123`,
  );
  assert.equal(first!.stdin.name, 'recnet');
  assert.equal(first!.stdin.cniVersion, '1.0.0');
  assert.equal(first!.stdin.prevResult, undefined);
  assert.deepEqual(first!.stdin.runtimeConfig, {
    portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' }],
    bandwidth: { ingressRate: 1_000_000, ingressBurst: 2 ** 31 - 1, egressRate: 2 ** 21, egressBurst: 2 ** 31 - 1 },
    dns: { servers: ['1.1.1.1'], searches: ['svc.local'], options: ['ndots:2'] },
    ipRanges: [[{ subnet: '10.1.0.0/16' }], [{ subnet: 'fd00:10::/56' }]],
  });
  // The second plugin declared portMappings false: no runtimeConfig at all; it chains on the first's result.
  assert.equal(second!.stdin.runtimeConfig, undefined);
  assert.deepEqual(second!.stdin.prevResult, RESULT);

  // DEL after the config dir changed still uses the config ADD used, in reverse order, with prevResult.
  await fs.rm(path.join(dir, 'cni', '20-rec.conflist'));
  await fs.rm(path.join(dir, 'rec'), { recursive: true });
  await fs.mkdir(path.join(dir, 'rec'));
  await cni.teardownPod(pod, never);
  c = await calls();
  assert.deepEqual(
    c.map((x) => x.name),
    ['rec-second-DEL', 'rec-first-DEL'],
  );
  // The fake netns is no pin: DEL goes without CNI_NETNS, as for a namespace that is gone.
  assert.equal(c[0]!.env.CNI_NETNS, undefined);
  assert.equal(c[0]!.env.CNI_COMMAND, 'DEL');
  assert.deepEqual(c[1]!.stdin.prevResult, RESULT);
  assert.equal(c[1]!.stdin.name, 'recnet');
  assert.deepEqual(pod.state.ips, []);
});

it('rejects a pod with an invalid bandwidth annotation before running any plugin', async () => {
  await fs.rm(path.join(dir, 'rec'), { recursive: true });
  await fs.mkdir(path.join(dir, 'rec'));
  const cni = new CniIsolator({
    configDir: path.join(dir, 'cni'),
    pluginDirs: [path.join(dir, 'bin')],
    stateDir: path.join(dir, 'state'),
  });
  const id = newPodId();
  const pod: PodContext = {
    spec: podSpec(id, { annotations: { 'kubernetes.io/ingress-bandwidth': 'fast' } }),
    state: { id, netns: path.join(dir, 'fake'), dir, cgroup: '', ips: [], infraPid: 0, data: {} },
  };
  await assert.rejects(cni.setupPod(pod, never), (e: unknown) => isKind(e, 'InvalidArgument'));
  assert.deepEqual(await fs.readdir(path.join(dir, 'rec')), []);
  assert.deepEqual(await fs.readdir(path.join(dir, 'state')).catch(() => []), []);
});

it('fails clearly when no usable network config exists', async () => {
  const empty = path.join(dir, 'empty');
  await fs.mkdir(empty);
  const cni = new CniIsolator({
    configDir: empty,
    pluginDirs: [path.join(dir, 'bin')],
    stateDir: path.join(dir, 's2'),
  });
  const id = newPodId();
  const pod: PodContext = {
    spec: podSpec(id),
    state: { id, netns: path.join(dir, 'fake'), dir, cgroup: '', ips: [], infraPid: 0, data: {} },
  };
  await assert.rejects(cni.setupPod(pod, never), (e: unknown) => {
    assert.ok(isKind(e, 'FailedPrecondition'));
    assert.match((e as Error).message, /NoCNIConfig/);
    return true;
  });
});
