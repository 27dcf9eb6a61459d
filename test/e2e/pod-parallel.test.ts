/**
 * 20 pods with one container each, started in parallel over the socket, then stopped and removed in
 * parallel: every one runs, and nothing is left behind (no mount under the test root, no pod cgroup, no
 * process, no IP lease).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ContainerState } from '../support/cri-client.js';
import { assertNothingLeft, finishPodEnv, type PodEnv, podWithContainer, startPodEnv, status } from './pod-fixture.js';

const PODS = 20;

describe('parallel pods (e2e)', () => {
  let env: PodEnv;
  let ok = false;
  before(async () => {
    env = await startPodEnv();
  });
  after(() => finishPodEnv(env, ok));

  it(`starts ${PODS} pods in parallel and removes them without leaks`, async () => {
    const made = await Promise.all(
      Array.from({ length: PODS }, (_, i) => podWithContainer(env, 'sleep 1000', `par${i}`)),
    );
    const states = await Promise.all(made.map((m) => status(env, m.containerId)));
    assert.deepEqual(
      states.map((s) => s.status?.state),
      made.map(() => ContainerState.CONTAINER_RUNNING),
    );
    const ips = new Set<string>();
    for (const m of made) {
      const p = await env.c.runtime.podSandboxStatus({ podSandboxId: m.podSandboxId, verbose: false });
      ips.add(p.status?.network?.ip ?? '');
    }
    assert.equal(ips.size, PODS, 'every pod has its own IP');

    await Promise.all(
      made.map(async (m) => {
        await env.c.runtime.stopPodSandbox({ podSandboxId: m.podSandboxId });
        await env.c.runtime.removePodSandbox({ podSandboxId: m.podSandboxId });
      }),
    );
    assert.deepEqual((await env.c.runtime.listPodSandbox({ filter: undefined })).items, []);
    assert.deepEqual((await env.c.runtime.listContainers({ filter: undefined })).containers, []);
    await assertNothingLeft(env);
    ok = true;
  });
});
