/**
 * UpdatePodSandboxResources over the socket: the pod cgroup's CPU quota and shares, memory limit and pids
 * limit change in place (read back from the cgroup files), the running container keeps running with the
 * same process, and limits the update no longer sets are lifted. Refused for unknown and stopped pods.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { controllerDir, detectCgroups } from '../../pkg/sys/index.js';
import { ContainerState, grpc, LinuxContainerResources, statusOf } from '../support/cri-client.js';
import { finishPodEnv, type PodEnv, podWithContainer, startPodEnv, status } from './pod-fixture.js';

const MiB = 1024 * 1024;

/** The pod cgroup's limits as the kernel holds them, in v1 terms (-1: unlimited). */
async function podLimits(env: PodEnv, podId: string) {
  const cg = `${env.cgroupsRoot}/${podId}`;
  const v2 = (await detectCgroups()).mode === 'v2';
  const read = async (ctl: string, file: string) =>
    readFileSync(path.join((await controllerDir(cg, ctl))!, file), 'utf8').trim();
  const unlimited = (v: string) => (v === 'max' ? -1 : Number(v));
  if (v2) {
    const [quota, period] = (await read('cpu', 'cpu.max')).split(' ');
    return {
      quota: unlimited(quota!),
      period: Number(period),
      memory: unlimited(await read('memory', 'memory.max')),
      pids: unlimited(await read('pids', 'pids.max')),
    };
  }
  const mem = Number(await read('memory', 'memory.limit_in_bytes'));
  return {
    quota: Number(await read('cpu', 'cpu.cfs_quota_us')),
    period: Number(await read('cpu', 'cpu.cfs_period_us')),
    shares: Number(await read('cpu', 'cpu.shares')),
    // v1 reports "no limit" as the largest page-aligned value.
    memory: mem >= 2 ** 62 ? -1 : mem,
    pids: unlimited(await read('pids', 'pids.max')),
  };
}

function res(r: Partial<LinuxContainerResources>): LinuxContainerResources {
  return LinuxContainerResources.fromPartial(r);
}

describe('UpdatePodSandboxResources (e2e)', () => {
  let env: PodEnv;
  let ok = false;
  before(async () => {
    env = await startPodEnv();
  });
  after(() => finishPodEnv(env, ok));

  it('changes the pod cgroup limits in place while the container keeps running', async () => {
    const { podSandboxId, containerId } = await podWithContainer(env, 'sleep 1000');
    const pidOf = async (id: string) => (JSON.parse((await status(env, id)).info.info!) as { pid: number }).pid;
    const pidBefore = await pidOf(containerId);
    assert.ok(pidBefore > 0);
    await env.c.runtime.updatePodSandboxResources({
      podSandboxId,
      overhead: res({ cpuShares: 24n, cpuQuota: 10_000n, cpuPeriod: 100_000n, memoryLimitInBytes: BigInt(8 * MiB) }),
      resources: res({
        cpuShares: 1000n,
        cpuQuota: 50_000n,
        cpuPeriod: 100_000n,
        memoryLimitInBytes: BigInt(120 * MiB),
        unified: { 'pids.max': '64' },
      }),
    });
    const got = await podLimits(env, podSandboxId);
    assert.equal(got.quota, 60_000, 'quota: overhead + containers');
    assert.equal(got.period, 100_000);
    if ('shares' in got) assert.equal(got.shares, 1024);
    assert.equal(got.memory, 128 * MiB, 'memory: overhead + containers');
    assert.equal(got.pids, 64);

    // A second update: smaller memory, no CPU limit and no pids limit any more.
    await env.c.runtime.updatePodSandboxResources({
      podSandboxId,
      overhead: undefined,
      resources: res({ cpuShares: 512n, memoryLimitInBytes: BigInt(64 * MiB), unified: { 'pids.max': 'max' } }),
    });
    const next = await podLimits(env, podSandboxId);
    assert.equal(next.quota, -1, 'the CPU limit was lifted');
    assert.equal(next.memory, 64 * MiB);
    assert.equal(next.pids, -1);

    const st = await status(env, containerId);
    assert.equal(st.status?.state, ContainerState.CONTAINER_RUNNING);
    assert.equal(await pidOf(containerId), pidBefore, 'the same process, never restarted');
    const r = await env.c.runtime.execSync({ containerId, cmd: ['true'], timeout: 30n });
    assert.equal(r.exitCode, 0);
    ok = true;
  });

  it('answers NOT_FOUND for an unknown pod and FAILED_PRECONDITION for a stopped one', async () => {
    ok = false;
    await assert.rejects(
      env.c.runtime.updatePodSandboxResources({
        podSandboxId: 'f'.repeat(64),
        overhead: undefined,
        resources: res({ memoryLimitInBytes: BigInt(64 * MiB) }),
      }),
      (e: unknown) => statusOf(e) === grpc.status.NOT_FOUND,
    );
    const { podSandboxId } = await podWithContainer(env, 'sleep 1000');
    await env.c.runtime.stopPodSandbox({ podSandboxId });
    await assert.rejects(
      env.c.runtime.updatePodSandboxResources({
        podSandboxId,
        overhead: undefined,
        resources: res({ memoryLimitInBytes: BigInt(64 * MiB) }),
      }),
      (e: unknown) => statusOf(e) === grpc.status.FAILED_PRECONDITION,
    );
    ok = true;
  });
});
