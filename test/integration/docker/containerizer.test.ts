/**
 * The Docker containerizer driven directly (no pkg/cri), against a private dockerd and a bridge CNI network of
 * this test: the streaming verbs — exec with a TTY and resize, exec without one (stdout/stderr apart, stdin
 * half-close, exit code), attach to a container's own stdio, port forwarding into the pod's pinned network
 * namespace (and Unavailable on a closed port) — ReopenContainerLog after a rotation, and the removal of a
 * container right after its start (its log follower still setting up).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { DockerContainerizer } from '../../../pkg/docker/index.js';
import { pickFreeSubnet } from '../../../pkg/mesos/isolators/network/index.js';
import { unmountAllUnder } from '../../../pkg/sys/index.js';
import { isKind } from '../../../pkg/util/index.js';
import { startDockerd, type TestDockerd } from '../../support/dockerd.js';
import { fixtureImages } from '../../support/images.js';
import { type RunningRegistry, startRegistry } from '../../support/registry.js';
import { basePodSpec } from '../../support/specs.js';
import { containerSpec } from '../../unit/isolators/fake.js';

const run = promisify(execFile);

async function readAll(s: Readable | undefined): Promise<string> {
  let t = '';
  if (!s) return t;
  for await (const c of s) t += (c as Buffer).toString();
  return t;
}

async function readUntil(s: Readable, needle: string): Promise<string> {
  let t = '';
  for await (const c of s) {
    t += (c as Buffer).toString();
    if (t.includes(needle)) return t;
  }
  return t;
}

describe('docker containerizer streaming (real dockerd)', () => {
  let dockerd: TestDockerd;
  let registry: RunningRegistry;
  let dz: DockerContainerizer;
  const root = mkdtempSync(path.join(os.tmpdir(), 'ucri-dkstream-'));
  const tag = randomBytes(3).toString('hex');
  const bridge = `ucridk${tag}`;
  const network = `ucri-dk-${tag}`;
  const podId = randomBytes(32).toString('hex');
  const pod = basePodSpec({ id: podId, name: 'stream', runtimeHandler: 'docker' });
  const signal = AbortSignal.timeout(120_000);
  let httpd = '';

  before(async () => {
    [dockerd, registry] = await Promise.all([startDockerd(), startRegistry()]);
    const images = await fixtureImages(registry);
    httpd = images['busybox-httpd'].ref;
    const start = randomBytes(1)[0]!;
    const subnet = await pickFreeSubnet(
      Array.from({ length: 64 }, (_, i) => `10.${236 + ((start + i) % 2)}.${(start * 7 + i * 13) % 256}.0/24`),
    );
    const cniDir = path.join(root, 'cni');
    await fs.mkdir(cniDir, { recursive: true });
    await fs.writeFile(
      path.join(cniDir, '10-dk.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: network,
        plugins: [{ type: 'bridge', bridge, isGateway: true, ipam: { type: 'host-local', subnet } }],
      }),
    );
    dz = new DockerContainerizer({
      socket: dockerd.socket,
      pauseImage: images['busybox-pause'].ref,
      cniConfigDir: cniDir,
      cniPluginDirs: ['/usr/lib/cni', '/opt/cni/bin'],
      workDir: path.join(root, 'work'),
      runtimeDir: path.join(root, 'run'),
    });
    await dz.recover({ pods: [], containers: [] });
    await dz.runPod(pod, signal);
  });
  after(async () => {
    try {
      await dz?.stopPod(podId, AbortSignal.timeout(60_000));
      await dz?.removePod(podId, AbortSignal.timeout(60_000));
      await dz?.close();
    } finally {
      await dockerd?.cleanup();
      await registry?.stop();
      await unmountAllUnder(root, { lazy: true }).catch(() => undefined);
      await fs.rm(root, { recursive: true, force: true });
      await run('ip', ['link', 'del', bridge]).catch(() => undefined);
      await fs.rm(path.join('/var/lib/cni/networks', network), { recursive: true, force: true });
    }
  });

  async function started(name: string, over: Parameters<typeof containerSpec>[0] = {}): Promise<string> {
    const id = randomBytes(32).toString('hex');
    const spec = containerSpec({ id, podId, name, image: { id: httpd, ref: httpd }, ...over });
    await dz.createContainer(spec, pod, signal);
    await dz.startContainer(id, signal);
    return id;
  }

  it('execs without a TTY: stdout and stderr apart, stdin half-closed, exit code', async () => {
    const id = await started('exec', { command: ['sleep', '300'] });
    const s = await dz.exec(
      id,
      ['sh', '-c', 'read x; echo "got $x"; echo err >&2; exit 5'],
      { tty: false, stdin: true, stdout: true, stderr: true },
      signal,
    );
    s.stdin!.end('hello\n');
    const [out, err, done] = await Promise.all([readAll(s.stdout), readAll(s.stderr), s.done]);
    assert.equal(out, 'got hello\n');
    assert.equal(err, 'err\n');
    assert.equal(done.exitCode, 5);
    await s.close();
  });

  it('execs with a TTY and applies resizes', async () => {
    const id = await started('tty', { command: ['sleep', '300'] });
    const s = await dz.exec(id, ['sh'], { tty: true, stdin: true, stdout: true, stderr: false }, signal);
    assert.equal(s.stderr, undefined);
    s.resize({ width: 123, height: 45 });
    await sleep(200);
    s.stdin!.write('stty size; exit 3\n');
    const out = await readAll(s.stdout);
    assert.match(out, /45 123/);
    assert.equal((await s.done).exitCode, 3);
  });

  it('attaches to the container stdio', async () => {
    const id = await started('attach', {
      command: ['sh', '-c', 'while read l; do echo "echo:$l"; done'],
      stdin: true,
    });
    const s = await dz.attach(id, { tty: false, stdin: true, stdout: true, stderr: true }, signal);
    s.stdin!.write('ping\n');
    assert.match(await readUntil(s.stdout!, 'echo:ping'), /echo:ping/);
    await s.close();
    assert.equal((await s.done).exitCode, undefined);
    assert.equal(dz.containerRuntime(id).state, 'running');
  });

  it('forwards a port inside the pod network namespace; a closed port is Unavailable', async () => {
    await started('web', {}); // busybox-httpd serves on :80
    let conn: Awaited<ReturnType<DockerContainerizer['portForward']>> | undefined;
    for (let i = 0; i < 50 && !conn; i++) {
      conn = await dz.portForward(podId, 80, signal).catch(async (e: unknown) => {
        if (!isKind(e, 'Unavailable')) throw e;
        await sleep(100);
        return undefined;
      });
    }
    assert.ok(conn, 'httpd never listened');
    conn.write('GET /index.html HTTP/1.0\r\n\r\n');
    const reply = await readAll(conn);
    assert.match(reply, /hello from ucri fixture/);
    await assert.rejects(dz.portForward(podId, 81, signal), (e: unknown) => isKind(e, 'Unavailable'));
  });

  it('reopens the CRI log after a rotation', async () => {
    const logPath = path.join(root, 'logs', 'rot.log');
    const id = await started('rot', {
      command: ['sh', '-c', 'i=0; while :; do echo line-$i; i=$((i+1)); sleep 0.1; done'],
      logPath,
    });
    await sleep(500);
    await fs.rename(logPath, `${logPath}.1`);
    await dz.reopenLog(id);
    await sleep(500);
    const fresh = await fs.readFile(logPath, 'utf8');
    assert.match(fresh, /stdout F line-\d+/);
    const old = await fs.readFile(`${logPath}.1`, 'utf8');
    assert.match(old, /stdout F line-0\n/);
  });

  it('removes a container right after its start without waiting for its end', async () => {
    // Its log follower is still setting up (its logs call not yet answered): stopping it must end that call
    // too, or the removal (and ucri's shutdown, which stops followers the same way) waits for the container.
    const id = await started('brief', { command: ['sleep', '90'], logPath: path.join(root, 'logs', 'brief.log') });
    const removed = dz.removeContainer(id, signal).then(() => 'removed');
    const stuck = sleep(60_000, 'still waiting after 60 s', { ref: false });
    assert.equal(await Promise.race([removed, stuck]), 'removed');
    assert.throws(
      () => dz.containerRuntime(id),
      (e: unknown) => isKind(e, 'NotFound'),
    );
  });
});
