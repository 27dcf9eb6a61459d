/**
 * The daemon over its socket, as crictl and kubelet see it: Version, Status with real readiness,
 * RuntimeConfig, UpdateRuntimeConfig (kept across a restart), UNIMPLEMENTED naming the RPC, validation
 * errors naming the field, socket permissions, the instance lock and stale-socket replacement.
 */
import assert from 'node:assert/strict';
import { promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CgroupDriver, CheckpointPodRequest, grpc, statusOf } from '../support/cri-client.js';
import { startDaemon, type TestDaemon } from '../support/daemon.js';

const CNI_CONFLIST = {
  cniVersion: '1.0.0',
  name: 'e2e-net',
  plugins: [{ type: 'bridge', bridge: 'ucri-e2e0', ipam: { type: 'host-local', subnet: '10.233.0.0/24' } }],
};

describe('ucri serve', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon();
  });
  after(async () => {
    await d.stop();
    await d.cleanup();
  });

  it('answers Version', async () => {
    const v = await d.client().runtime.version({ version: 'v1' });
    assert.equal(v.runtimeName, 'ucri');
    assert.equal(v.runtimeApiVersion, 'v1');
    assert.equal(v.version, '0.1.0');
    assert.match(v.runtimeVersion, /^\d+\.\d+\.\d+/);
  });

  it('serves the socket with mode 0660', () => {
    assert.equal(statSync(d.socket).mode & 0o777, 0o660);
  });

  it('reports RuntimeReady and a NetworkReady that follows the CNI config dir without a restart', async () => {
    const c = d.client();
    const cond = async (type: string) =>
      (await c.runtime.status({ verbose: false })).status?.conditions.find((x) => x.type === type);
    assert.equal((await cond('RuntimeReady'))?.status, true);
    const down = await cond('NetworkReady');
    assert.equal(down?.status, false);
    assert.equal(down?.reason, 'NoCNIConfig');
    assert.match(down?.message ?? '', /no network config found/);

    const file = path.join(d.cniConfigDir, '10-e2e.conflist');
    await fs.writeFile(file, JSON.stringify(CNI_CONFLIST));
    assert.equal((await cond('NetworkReady'))?.status, true);

    await fs.writeFile(file, '{ not json');
    const broken = await cond('NetworkReady');
    assert.equal(broken?.status, false);
    assert.match(broken?.message ?? '', /10-e2e\.conflist/);
    await fs.rm(file);
  });

  it('shows the effective configuration in verbose Status and lists runtime handlers', async () => {
    const s = await d.client().runtime.status({ verbose: true });
    const cfg = JSON.parse(s.info.config ?? '{}') as Record<string, unknown>;
    assert.equal(cfg.socket, d.socket);
    assert.equal(cfg.work_dir, d.workDir);
    // The default handler "" is listed too: kubelet looks features up by the pod's handler name.
    assert.deepEqual(
      s.runtimeHandlers.map((h) => h.name),
      ['', 'mesos'],
    );
  });

  it('reports the host cgroup driver in RuntimeConfig', async () => {
    const r = await d.client().runtime.runtimeConfig({});
    const expected = (await fs.stat('/run/systemd/system').catch(() => undefined))
      ? CgroupDriver.SYSTEMD
      : CgroupDriver.CGROUPFS;
    assert.equal(r.linux?.cgroupDriver, expected);
  });

  it('validates UpdateRuntimeConfig and names the bad field', async () => {
    const c = d.client();
    await assert.rejects(
      c.runtime.updateRuntimeConfig({ runtimeConfig: { networkConfig: { podCidr: '10.0.0.0/99' } } }),
      (e: unknown) =>
        statusOf(e) === grpc.status.INVALID_ARGUMENT && /runtimeConfig\.networkConfig\.podCidr/.test(String(e)),
    );
    await c.runtime.updateRuntimeConfig({ runtimeConfig: { networkConfig: { podCidr: '10.244.1.0/24' } } });
    const s = await c.runtime.status({ verbose: true });
    assert.deepEqual(JSON.parse(s.info.runtimeConfig ?? '{}'), { podCidr: '10.244.1.0/24' });
  });

  it('answers UNIMPLEMENTED naming the RPC for what is not there yet', async () => {
    const c = d.client();
    await assert.rejects(
      c.runtime.checkpointPod(CheckpointPodRequest.fromPartial({ podSandboxId: 'x' })),
      (e: unknown) => statusOf(e) === grpc.status.UNIMPLEMENTED && /CheckpointPod/.test(String(e)),
    );
  });

  it('refuses a second daemon on the same socket or work dir', async () => {
    await assert.rejects(startDaemon({ flags: [`--socket=${d.socket}`] }), /socket .* is in use by another ucri/);
    await assert.rejects(startDaemon({ flags: [`--work_dir=${d.workDir}`] }), /work_dir .* is in use by another ucri/);
  });
});

describe('ucri serve restarts', () => {
  it('replaces a stale socket after a crash and keeps the pod CIDR', async () => {
    const first = await startDaemon();
    try {
      await first
        .client()
        .runtime.updateRuntimeConfig({ runtimeConfig: { networkConfig: { podCidr: '10.9.0.0/16' } } });
      await first.kill9();
      const second = await startDaemon({ root: first.root });
      try {
        const s = await second.client().runtime.status({ verbose: true });
        assert.deepEqual(JSON.parse(s.info.runtimeConfig ?? '{}'), { podCidr: '10.9.0.0/16' });
      } finally {
        assert.equal(await second.stop(), 0);
      }
    } finally {
      await first.cleanup();
    }
  });

  it('exits with a clear message on a bad configuration', async () => {
    await assert.rejects(startDaemon({ configToml: 'no_such_key = 1\n' }), /unknown key\(s\) "no_such_key"/);
  });
});
