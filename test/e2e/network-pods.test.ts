/**
 * Pod networking over the socket, with real containers and the real bridge/host-local/portmap plugins on
 * a bridge this file names, a free 10.x subnet and host-local state under the daemon's temp root: two pods
 * reach each other by IP, a host port reaches busybox httpd in a pod from the host, a hostNetwork pod sees
 * the host's interfaces, resolv.conf/hostname/hosts follow the pod config, and a daemon killed (-9) while a
 * pod's CNI ADD is in flight leaves no address or veth once it has restarted.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pickFreeSubnet } from '../../pkg/mesos/isolators/network/index.js';
import { run, unmountAllUnder } from '../../pkg/sys/index.js';
import {
  type ContainerConfig,
  type CriClient,
  CreateContainerRequest,
  NamespaceMode,
  type PodSandboxConfig,
  RunPodSandboxRequest,
} from '../support/cri-client.js';
import { chains, removeNewCniChains } from '../integration/network/support.js';
import { removeNatRulesOf } from '../support/nat-rules.js';
import { startDaemon, type TestDaemon } from '../support/daemon.js';
import { fixtureImages } from '../support/images.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';

const tag = randomBytes(3).toString('hex');
const bridge = `ucrin${tag}`;
const network = `ucri-e2e-net-${tag}`;
let subnet: string;
let registry: RunningRegistry;
let d: TestDaemon;
let c: CriClient;
let image: string;
let gateDir: string;
let pluginDir: string;
let flags: string[];
let natBefore: string[];
let chainsBefore: Set<string>;
let forwardBefore: string;
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

// An extra last plugin that, when a gate file is armed, announces it entered ADD and blocks until released:
// the window in which the crash test kills the daemon. Otherwise it passes prevResult through.
const GATE_PLUGIN = `#!/bin/sh
dir="$(dirname "$0")/../gate"
in=$(cat)
if [ "$CNI_COMMAND" = ADD ]; then
  if [ -e "$dir/armed" ]; then rm -f "$dir/armed"; : > "$dir/entered"; cat "$dir/fifo" >/dev/null; fi
  printf '%s' "$in" | sed -n 's/.*"prevResult":\\(.*\\)}$/\\1/p'
fi
exit 0
`;

function podConfig(name: string, over: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  return RunPodSandboxRequest.fromPartial({
    config: {
      metadata: { name, namespace: 'e2e-net', uid: `uid-${name}-${tag}`, attempt: 0 },
      hostname: name,
      logDirectory: path.join(d.root, 'pods', name),
      ...over,
    },
  }).config!;
}

function containerConfig(name: string, script: string, over: Partial<ContainerConfig> = {}): ContainerConfig {
  return CreateContainerRequest.fromPartial({
    config: {
      metadata: { name, attempt: 0 },
      image: { image },
      command: ['sh', '-c', script],
      logPath: `${name}.log`,
      ...over,
    },
  }).config!;
}

/** A pod with one running container; its id, container id and primary IP. */
async function pod(name: string, script: string, over: Partial<PodSandboxConfig> = {}) {
  const config = podConfig(name, over);
  const { podSandboxId } = await c.runtime.runPodSandbox({ config, runtimeHandler: '' });
  const { containerId } = await c.runtime.createContainer({
    podSandboxId,
    config: containerConfig('main', script),
    sandboxConfig: config,
  });
  await c.runtime.startContainer({ containerId });
  const st = await c.runtime.podSandboxStatus({ podSandboxId, verbose: false });
  return { podSandboxId, containerId, ip: st.status?.network?.ip ?? '', status: st.status };
}

async function exec(containerId: string, cmd: string[]): Promise<{ code: number; out: string }> {
  const r = await c.runtime.execSync({ containerId, cmd, timeout: 30n });
  return { code: r.exitCode, out: Buffer.from(r.stdout).toString() + Buffer.from(r.stderr).toString() };
}

/** GET / over busybox nc, from inside a container; the body or undefined. */
async function httpFrom(containerId: string, host: string, port: number): Promise<string | undefined> {
  const r = await exec(containerId, ['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${host} ${port}`]);
  const sep = r.out.indexOf('\r\n\r\n');
  return r.code === 0 && sep >= 0 ? r.out.slice(sep + 4) : undefined;
}

/** GET / from the host with busybox nc; the body or undefined. */
async function httpFromHost(host: string, port: number): Promise<string | undefined> {
  const r = await run('busybox', ['nc', '-w', '5', host, String(port)], {
    stdin: 'GET / HTTP/1.0\r\n\r\n',
    allowFailure: true,
    timeoutMs: 20_000,
  });
  const sep = r.stdout.indexOf('\r\n\r\n');
  return r.code === 0 && sep >= 0 ? r.stdout.slice(sep + 4) : undefined;
}

const HTTPD =
  'mkdir -p /tmp/www && echo "hi from $(hostname)" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www';

/** Waits (bounded) until a server in `containerId` answers on 127.0.0.1:8080. */
async function waitHttp(containerId: string): Promise<void> {
  for (let i = 0; i < 100; i++) if ((await httpFrom(containerId, '127.0.0.1', 8080)) !== undefined) return;
  throw new Error('httpd did not come up');
}

async function leases(): Promise<string[]> {
  const dir = path.join(d.root, 'ipam', network);
  return existsSync(dir) ? (await fs.readdir(dir)).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n)) : [];
}

async function bridgePorts(): Promise<string[]> {
  const r = await run('ip', ['-o', 'link', 'show', 'master', bridge], { allowFailure: true });
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

async function natRules(): Promise<string[]> {
  return (await run('iptables-save', ['-t', 'nat'])).stdout.split('\n').filter((l) => l.startsWith('-A'));
}

async function removeAllPods(): Promise<void> {
  const { items } = await c.runtime.listPodSandbox({ filter: undefined });
  for (const p of items) {
    await c.runtime.stopPodSandbox({ podSandboxId: p.id });
    await c.runtime.removePodSandbox({ podSandboxId: p.id });
  }
}

describe('pod networking (e2e)', () => {
  before(async () => {
    registry = await startRegistry();
    image = (await fixtureImages(registry)).busybox.ref;
    natBefore = await natRules();
    chainsBefore = await chains();
    forwardBefore = (await fs.readFile(IP_FORWARD, 'utf8')).trim();
    d = await startDaemon({ flags: [] });
    pluginDir = path.join(d.root, 'plugins');
    gateDir = path.join(d.root, 'gate');
    await fs.mkdir(pluginDir, { recursive: true });
    await fs.mkdir(gateDir, { recursive: true });
    await fs.writeFile(path.join(pluginDir, 'ucri-e2e-gate'), GATE_PLUGIN, { mode: 0o755 });
    await run('mkfifo', [path.join(gateDir, 'fifo')]);
    const randomStart = randomBytes(1)[0]! % 30;
    subnet = await pickFreeSubnet(Array.from({ length: 30 }, (_, i) => `10.${160 + ((i + randomStart) % 30)}.0.0/16`));
    const conflist = {
      cniVersion: '1.0.0',
      name: network,
      plugins: [
        {
          type: 'bridge',
          bridge,
          isGateway: true,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: path.join(d.root, 'ipam'),
          },
        },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
        { type: 'ucri-e2e-gate' },
      ],
    };
    await fs.writeFile(path.join(d.cniConfigDir, '10-e2e.conflist'), JSON.stringify(conflist));
    // Restart with the gate plugin's dir on the plugin path (the config dir stays).
    await d.stop();
    flags = [`--network_cni_plugins_dir=/usr/lib/cni:${pluginDir}`];
    d = await startDaemon({ root: d.root, flags });
    c = d.client();
    await c.image.pullImage({
      image: { image, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
      auth: undefined,
      sandboxConfig: undefined,
    });
  });

  after(async () => {
    try {
      if (c) await removeAllPods();
    } finally {
      await d?.stop();
      await registry?.stop();
      await run('ip', ['link', 'del', bridge], { allowFailure: true });
      // The daemon leaves its namespace pin root mounted for a successor; nothing succeeds it here.
      if (d) await unmountAllUnder(d.root, { lazy: true });
      await d?.cleanup();
      // A pod whose removal failed keeps its masquerade and DNAT rules, also in shared chains.
      await removeNatRulesOf(network);
      // The bridge plugin turns forwarding on for its gateway and portmap makes shared chains: undo both.
      if (chainsBefore) await removeNewCniChains(chainsBefore);
      if (forwardBefore) await fs.writeFile(IP_FORWARD, forwardBefore);
    }
  });

  it('gives two pods IPs in the subnet that reach each other', async () => {
    const a = await pod('net-a', HTTPD);
    const b = await pod('net-b', HTTPD);
    const prefix = `${subnet.split('.').slice(0, 2).join('.')}.`;
    assert.ok(a.ip.startsWith(prefix), a.ip);
    assert.ok(b.ip.startsWith(prefix), b.ip);
    assert.notEqual(a.ip, b.ip);
    await waitHttp(a.containerId);
    await waitHttp(b.containerId);
    assert.equal(await httpFrom(a.containerId, b.ip, 8080), 'hi from net-b\n');
    assert.equal(await httpFrom(b.containerId, a.ip, 8080), 'hi from net-a\n');
    assert.equal((await leases()).length, 2);
    for (const p of [a, b]) {
      await c.runtime.stopPodSandbox({ podSandboxId: p.podSandboxId });
      await c.runtime.removePodSandbox({ podSandboxId: p.podSandboxId });
    }
    assert.deepEqual(await leases(), []);
    assert.deepEqual(await bridgePorts(), []);
  });

  it('reaches busybox httpd in a pod through its host port, and releases the port on stop', async () => {
    const hostPort = 30000 + (randomBytes(2).readUInt16BE() % 2000);
    const p = await pod('net-web', HTTPD, {
      portMappings: [{ protocol: 0, containerPort: 8080, hostPort, hostIp: '' }],
    });
    await waitHttp(p.containerId);
    assert.equal(await httpFromHost('127.0.0.1', hostPort), 'hi from net-web\n');
    const hostIp = /\bsrc (\S+)/.exec((await run('ip', ['-4', '-o', 'route', 'get', '192.0.2.200'])).stdout)?.[1];
    assert.ok(hostIp);
    assert.equal(await httpFromHost(hostIp, hostPort), 'hi from net-web\n');
    await c.runtime.stopPodSandbox({ podSandboxId: p.podSandboxId });
    assert.ok(!(await natRules()).some((l) => l.includes(`--dport ${hostPort} `)), 'DNAT rule left after stop');
    assert.deepEqual(await leases(), []);
    await c.runtime.removePodSandbox({ podSandboxId: p.podSandboxId });
  });

  it('puts the pod DNS config, hostname and IP into the container files', async () => {
    const p = await pod('net-dns', 'exec sleep 3600', {
      hostname: 'web-1',
      dnsConfig: { servers: ['10.0.0.10'], searches: ['svc.cluster.local', 'cluster.local'], options: ['ndots:5'] },
    });
    const resolv = (await exec(p.containerId, ['cat', '/etc/resolv.conf'])).out;
    assert.match(resolv, /^nameserver 10\.0\.0\.10$/m);
    assert.match(resolv, /^search svc\.cluster\.local cluster\.local$/m);
    assert.match(resolv, /^options ndots:5$/m);
    assert.equal((await exec(p.containerId, ['hostname'])).out.trim(), 'web-1');
    const hosts = (await exec(p.containerId, ['cat', '/etc/hosts'])).out;
    assert.match(hosts, new RegExp(`^${p.ip.replaceAll('.', '\\.')}\\s+.*web-1`, 'm'));
    await c.runtime.stopPodSandbox({ podSandboxId: p.podSandboxId });
    await c.runtime.removePodSandbox({ podSandboxId: p.podSandboxId });
  });

  it('runs a hostNetwork pod without CNI, seeing the host interfaces', async () => {
    const leasesBefore = await leases();
    const p = await pod('net-host', 'exec sleep 3600', {
      linux: { securityContext: { namespaceOptions: { network: NamespaceMode.NODE } } },
    } as Partial<PodSandboxConfig>);
    assert.equal(p.ip, '');
    const dev = (await exec(p.containerId, ['cat', '/proc/net/dev'])).out;
    assert.match(dev, new RegExp(`\\b${bridge}:`), 'the host bridge is visible');
    assert.match(dev, /\beth0:/);
    assert.deepEqual(await leases(), leasesBefore);
    await c.runtime.stopPodSandbox({ podSandboxId: p.podSandboxId });
    await c.runtime.removePodSandbox({ podSandboxId: p.podSandboxId });
  });

  it('leaves no address or veth when the daemon is killed during CNI ADD and restarted', async () => {
    await fs.writeFile(path.join(gateDir, 'armed'), '');
    const pending = c.runtime.runPodSandbox({ config: podConfig('net-crash'), runtimeHandler: '' }).catch((e) => e);
    // The gate plugin runs after bridge and portmap: once it has entered, the address and veth exist.
    for (let i = 0; i < 600 && !existsSync(path.join(gateDir, 'entered')); i++) await sleep(50);
    assert.ok(existsSync(path.join(gateDir, 'entered')), 'the gate plugin was not reached');
    assert.equal((await leases()).length, 1);
    await d.kill9();
    await pending;
    // Release the orphaned plugin (its parent is gone); opening the fifo for writing unblocks its read.
    // Non-blocking: if the plugin were gone there would be no reader, and the open fails instead of hanging.
    const fh = await fs.open(path.join(gateDir, 'fifo'), fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    await fh.close();
    d = await startDaemon({ root: d.root, flags });
    c = d.client();
    await removeAllPods();
    assert.deepEqual(await leases(), []);
    assert.deepEqual(await bridgePorts(), []);
  });

  it('leaves no per-pod nat rule behind', async () => {
    const added = (await natRules()).filter((l) => !natBefore.includes(l) && /--dport 3\d{4} |id: "/.test(l));
    assert.deepEqual(added, []);
  });
});
