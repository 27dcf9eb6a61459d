/**
 * The network/cni isolator with the real Debian CNI plugins (bridge, host-local, portmap) on a bridge this
 * file creates, and pods whose network namespaces are real pins. Everything is removed in `after`.
 */
import assert from 'node:assert/strict';
import type { Child } from '../../../pkg/sys/index.js';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PodContext } from '../../../pkg/mesos/isolator.js';
import { CniIsolator, type CniRecord } from '../../../pkg/mesos/isolators/network/index.js';
import { removePinnedNamespaces, run, runInNetns, start, waitChild } from '../../../pkg/sys/index.js';
import { configureLogging, isKind } from '../../../pkg/util/index.js';
import { PLUGIN_DIRS, type TestBed, testBed } from './support.js';

let bed: TestBed;
let cni: CniIsolator;
const never = new AbortController().signal;

function isolator(): CniIsolator {
  return new CniIsolator({ configDir: bed.configDir, pluginDirs: PLUGIN_DIRS, stateDir: bed.stateDir });
}

before(async () => {
  configureLogging({ silent: true });
  bed = await testBed('net-cni');
  await bed.writeConfig(bed.bridgeConflist());
  cni = isolator();
  await cni.recover([]);
});

after(async () => {
  await bed?.close();
});

/** A free TCP port on the host (bound and released at once; nothing else here binds ports by number). */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '0.0.0.0', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function hostIpv4(): Promise<string> {
  const r = await run('ip', ['-4', '-o', 'route', 'get', '192.0.2.200']);
  const m = /\bsrc (\S+)/.exec(r.stdout);
  if (!m) throw new Error(`no host source address in: ${r.stdout}`);
  return m[1]!;
}

/**
 * GET / from `host:port` with busybox nc (its wget crashes inside a fresh netns), from the host or inside
 * `netns`; the body, or undefined when the connection fails.
 */
async function httpGet(host: string, port: number, netns?: string): Promise<string | undefined> {
  const args = ['nc', '-w', '5', host, String(port)];
  const opts = { allowFailure: true, timeoutMs: 20_000, stdin: 'GET / HTTP/1.0\r\n\r\n' };
  const r = netns ? await runInNetns(netns, 'busybox', args, opts) : await run('busybox', args, opts);
  const sep = r.stdout.indexOf('\r\n\r\n');
  return r.code === 0 && r.stdout.startsWith('HTTP/1.') && sep >= 0 ? r.stdout.slice(sep + 4) : undefined;
}

describe('network/cni with bridge + host-local + portmap', () => {
  it('attaches two pods that reach each other by IP, and detaches them without a trace', async () => {
    const a = await bed.pod();
    const b = await bed.pod();
    await Promise.all([cni.setupPod(a, never), cni.setupPod(b, never)]);
    for (const p of [a, b]) {
      assert.equal(p.state.ips.length, 1);
      assert.ok(p.state.ips[0]!.startsWith(bed.subnet.split('.').slice(0, 2).join('.')), p.state.ips[0]);
      const rec = p.state.data['network/cni'] as CniRecord;
      assert.equal(rec.phase, 'added');
      assert.deepEqual(rec.ips, p.state.ips);
      assert.ok(rec.result);
      const addr = await runInNetns(p.state.netns!, 'ip', ['-4', '-o', 'addr', 'show', 'eth0']);
      assert.match(addr.stdout, new RegExp(`inet ${p.state.ips[0]!.replaceAll('.', '\\.')}/16`));
    }
    assert.notEqual(a.state.ips[0], b.state.ips[0]);
    await runInNetns(a.state.netns!, 'busybox', ['ping', '-c1', '-W', '5', b.state.ips[0]!], { timeoutMs: 20_000 });
    await runInNetns(b.state.netns!, 'busybox', ['ping', '-c1', '-W', '5', a.state.ips[0]!], { timeoutMs: 20_000 });
    await cni.check(a, never);
    assert.equal((await bed.leasedIps()).length, 2);
    assert.equal((await bed.bridgePorts()).length, 2);

    await cni.teardownPod(a, never);
    await cni.teardownPod(b, never);
    await cni.teardownPod(b, never); // idempotent
    await cni.cleanupPod(b);
    for (const p of [a, b]) {
      assert.deepEqual(p.state.ips, []);
      assert.equal(p.state.data['network/cni'], undefined);
      const links = await runInNetns(p.state.netns!, 'ip', ['-o', 'link']);
      assert.doesNotMatch(links.stdout, /eth0/);
    }
    assert.deepEqual(await bed.leasedIps(), []);
    assert.deepEqual(await bed.bridgePorts(), []);
    assert.deepEqual(await fs.readdir(bed.stateDir), []);
  });

  it('forwards a host port to a pod from 127.0.0.1 and the host address, and releases it on teardown', async () => {
    const hostPort = await freePort();
    const pod = await bed.pod({
      portMappings: [
        { protocol: 'tcp', containerPort: 8080, hostPort, hostIp: '' },
        { protocol: 'tcp', containerPort: 9, hostPort: 0, hostIp: '' },
      ],
    });
    await cni.setupPod(pod, never);
    const www = path.join(bed.dir, 'www');
    await fs.mkdir(www, { recursive: true });
    await fs.writeFile(path.join(www, 'index.html'), 'hello from the pod\n');
    let httpd: Child | undefined;
    try {
      httpd = await start('nsenter', [
        `--net=${pod.state.netns}`,
        '--',
        'busybox',
        'httpd',
        '-f',
        '-p',
        '8080',
        '-h',
        www,
      ]);
      // httpd binds a moment after it starts: ask it from inside the pod until it answers (bounded).
      let inside: string | undefined;
      for (let i = 0; i < 100 && inside === undefined; i++) inside = await httpGet('127.0.0.1', 8080, pod.state.netns);
      assert.equal(inside, 'hello from the pod\n');
      assert.equal(await httpGet('127.0.0.1', hostPort), 'hello from the pod\n');
      assert.equal(await httpGet(await hostIpv4(), hostPort), 'hello from the pod\n');
      const nat = (await run('iptables-save', ['-t', 'nat'])).stdout;
      assert.match(nat, new RegExp(`--dport ${hostPort}\\b`));
    } finally {
      if (httpd?.pid !== undefined && httpd.exitCode === null) {
        httpd.kill('SIGKILL');
        await waitChild(httpd);
      }
      await cni.teardownPod(pod, never);
    }
    const nat = (await run('iptables-save', ['-t', 'nat'])).stdout;
    assert.doesNotMatch(nat, new RegExp(`--dport ${hostPort}\\b`));
    assert.doesNotMatch(nat, new RegExp(pod.state.id));
    assert.deepEqual(await bed.leasedIps(), []);
  });

  it('runs portmap only for pods with host ports: the others get the same result, and no iptables change', async () => {
    // A plugin dir whose portmap logs each call, then runs the real one; bridge and host-local are the real ones.
    const dir = path.join(bed.dir, 'logged');
    await fs.mkdir(dir, { recursive: true });
    const calls = path.join(bed.dir, 'portmap-calls');
    await fs.writeFile(calls, '');
    for (const p of ['bridge', 'host-local']) await fs.symlink(path.join(PLUGIN_DIRS[0]!, p), path.join(dir, p));
    await fs.writeFile(
      path.join(dir, 'portmap'),
      `#!/bin/sh\necho "$CNI_COMMAND $CNI_CONTAINERID" >> ${calls}\nexec ${PLUGIN_DIRS[0]}/portmap\n`,
      { mode: 0o755 },
    );
    const logged = new CniIsolator({ configDir: bed.configDir, pluginDirs: [dir], stateDir: bed.stateDir });
    const natOf = async (id: string) =>
      (await run('iptables-save', ['-t', 'nat'])).stdout.split('\n').filter((l) => l.includes(id.slice(0, 12)));
    // This network's rules only: other runtimes on the host (benchmarks) add and remove their own meanwhile.
    const prefix = `${bed.subnet.split('.').slice(0, 2).join('.')}.`;
    const natRules = async () =>
      (await run('iptables-save', ['-t', 'nat'])).stdout
        .split('\n')
        .filter((l) => l.startsWith('-A ') && (l.includes(prefix) || l.includes('ucri-test-net-cni')));

    const plain = await bed.pod({ portMappings: [{ protocol: 'tcp', containerPort: 80, hostPort: 0, hostIp: '' }] });
    await logged.setupPod(plain, never);
    await logged.check(plain, never);
    const rec = plain.state.data['network/cni'] as CniRecord;
    // What the real portmap 1.1.1 prints for this pod (no host ports): the bridge's result, unchanged.
    const { invokePlugin, pluginConfig } = await import('../../../pkg/cni/index.js');
    const conf = pluginConfig(rec.network, rec.network.config.plugins[1]!, rec.attachment, rec.result);
    assert.equal(conf.runtimeConfig, undefined);
    const rulesBefore = await natRules();
    const passed = await invokePlugin('portmap', 'ADD', rec.attachment, conf, { pluginDirs: PLUGIN_DIRS });
    assert.deepEqual(passed, rec.result);
    await invokePlugin('portmap', 'CHECK', rec.attachment, conf, { pluginDirs: PLUGIN_DIRS });
    await invokePlugin('portmap', 'DEL', rec.attachment, conf, { pluginDirs: PLUGIN_DIRS });
    assert.deepEqual(await natRules(), rulesBefore);
    await logged.teardownPod(plain, never);
    assert.equal(await fs.readFile(calls, 'utf8'), '', 'portmap ran for a pod without host ports');
    assert.deepEqual(await natOf(plain.state.id), []);
    assert.deepEqual(await bed.leasedIps(), []);

    const hostPort = await freePort();
    const mapped = await bed.pod({ portMappings: [{ protocol: 'tcp', containerPort: 8080, hostPort, hostIp: '' }] });
    await logged.setupPod(mapped, never);
    const nat = (await run('iptables-save', ['-t', 'nat'])).stdout;
    assert.match(nat, new RegExp(`--dport ${hostPort}\\b`));
    assert.notDeepEqual(await natOf(mapped.state.id), []);
    // (No CHECK here: portmap 1.1.1's CHECK of a mapped port fails on an IPv4-only pod, looking for IPv6 rules.)
    await logged.teardownPod(mapped, never);
    assert.equal(await fs.readFile(calls, 'utf8'), `ADD ${mapped.state.id}\nDEL ${mapped.state.id}\n`);
    assert.doesNotMatch((await run('iptables-save', ['-t', 'nat'])).stdout, new RegExp(`--dport ${hostPort}\\b`));
    assert.deepEqual(await natOf(mapped.state.id), []);
    assert.deepEqual(await bed.leasedIps(), []);
  });

  it('writes its checkpoint before the caller is ready, runs ADD only once it is, and nothing if it fails', async () => {
    const pod = await bed.pod();
    let go!: () => void;
    const ready = new Promise<void>((resolve) => {
      go = resolve;
    });
    const attached = cni.setupPod(pod, never, ready);
    const file = path.join(bed.stateDir, `${pod.state.id}.json`);
    for (let i = 0; i < 200 && !(await fs.stat(file).catch(() => undefined)); i++) await sleep(10);
    assert.equal((JSON.parse(await fs.readFile(file, 'utf8')) as CniRecord).phase, 'adding');
    await sleep(100);
    assert.deepEqual(await bed.leasedIps(), [], 'ADD ran before the caller was ready');
    go();
    await attached;
    assert.equal(pod.state.ips.length, 1);
    await cni.teardownPod(pod, never);

    const failing = await bed.pod();
    const refused = Promise.reject(new Error('the record could not be written'));
    await assert.rejects(cni.setupPod(failing, never, refused), /the record could not be written/);
    assert.deepEqual(failing.state.data, {});
    assert.deepEqual(await bed.leasedIps(), []);
    assert.deepEqual(await fs.readdir(bed.stateDir), []);
  });

  it('skips host-network pods entirely', async () => {
    const pod = await bed.pod({ namespaces: { network: 'node', pid: 'container', ipc: 'pod' } });
    await cni.setupPod(pod, never);
    assert.deepEqual(pod.state.ips, []);
    assert.deepEqual(pod.state.data, {});
    assert.deepEqual(await bed.leasedIps(), []);
    await cni.teardownPod(pod, never);
    await cni.cleanupPod(pod);
  });

  it('deletes a pod whose namespace pin is gone (CNI_NETNS omitted) and frees its address', async () => {
    const pod = await bed.pod();
    await cni.setupPod(pod, never);
    assert.equal((await bed.leasedIps()).length, 1);
    await removePinnedNamespaces(bed.pinRoot, pod.state.id);
    await cni.teardownPod(pod, never);
    assert.deepEqual(await bed.leasedIps(), []);
    assert.deepEqual(await bed.bridgePorts(), []);
    assert.deepEqual(await fs.readdir(bed.stateDir), []);
  });

  it('recovers after a crash during ADD: half-made and orphaned attachments get a DEL, completed ones are restored', async () => {
    const [kept, half, orphan] = [await bed.pod(), await bed.pod(), await bed.pod()];
    await Promise.all([kept, half, orphan].map((p) => cni.setupPod(p, never)));
    // The daemon died after the plugins ran but before the result was stored: the checkpoint says `adding`.
    const file = path.join(bed.stateDir, `${half.state.id}.json`);
    const rec = JSON.parse(await fs.readFile(file, 'utf8')) as CniRecord;
    await fs.writeFile(file, JSON.stringify({ ...rec, phase: 'adding', result: undefined, ips: [] }));
    assert.equal((await bed.leasedIps()).length, 3);

    const fresh = isolator();
    const keptAfter: PodContext = { spec: kept.spec, state: { ...kept.state, ips: [], data: {} } };
    const halfAfter: PodContext = { spec: half.spec, state: { ...half.state, ips: [], data: {} } };
    await fresh.recover([keptAfter, halfAfter]); // `orphan` has no pod record any more
    assert.deepEqual(keptAfter.state.ips, kept.state.ips);
    assert.equal((keptAfter.state.data['network/cni'] as CniRecord).phase, 'added');
    assert.deepEqual(halfAfter.state.ips, []);
    assert.deepEqual(await bed.leasedIps(), kept.state.ips);
    assert.equal((await bed.bridgePorts()).length, 1);
    assert.deepEqual(await fs.readdir(bed.stateDir), [`${kept.state.id}.json`]);

    await fresh.teardownPod(keptAfter, never);
    assert.deepEqual(await bed.leasedIps(), []);
    assert.deepEqual(await bed.bridgePorts(), []);
  });

  it('undoes a half-done ADD when a later plugin of the list fails, leaving no address', async () => {
    const dir = path.join(bed.dir, 'failing');
    await fs.mkdir(dir, { recursive: true });
    const plugin = path.join(dir, 'ucri-test-fail');
    await fs.writeFile(
      plugin,
      '#!/bin/sh\ncat >/dev/null\n[ "$CNI_COMMAND" = ADD ] || exit 0\necho \'{"cniVersion":"1.0.0","code":7,"msg":"refused by test","details":"on purpose"}\'\nexit 1\n',
      { mode: 0o755 },
    );
    const cfgDir = path.join(bed.dir, 'cni-failing');
    await fs.mkdir(cfgDir, { recursive: true });
    await fs.writeFile(
      path.join(cfgDir, '10-fail.conflist'),
      JSON.stringify(bed.bridgeConflist([{ type: 'ucri-test-fail' }])),
    );
    const failing = new CniIsolator({
      configDir: cfgDir,
      pluginDirs: [...PLUGIN_DIRS, dir],
      stateDir: bed.stateDir,
    });
    const pod = await bed.pod();
    await assert.rejects(failing.setupPod(pod, never), (e: unknown) => {
      assert.ok(isKind(e, 'Internal'), String(e));
      assert.match((e as Error).message, /"ucri-test-fail" ADD .*code 7: refused by test: on purpose/);
      return true;
    });
    assert.deepEqual(pod.state.ips, []);
    assert.equal(pod.state.data['network/cni'], undefined);
    assert.deepEqual(await bed.leasedIps(), []);
    assert.deepEqual(await bed.bridgePorts(), []);
    assert.deepEqual(await fs.readdir(bed.stateDir), []);
  });
});
