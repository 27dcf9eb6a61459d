import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  ContainerState,
  type ContainerStatusResponse,
  type CreateContainerResponse,
  PodSandboxState,
  type PodSandboxStatusResponse,
  type RunPodSandboxResponse,
} from '../../../pkg/cri/gen/cri/v1/api.js';
import { recoverRuntime } from '../../../pkg/cri/runtime/recover.js';
import { createReq, exitAndWait, type Harness, harness, runPodReq } from './harness.js';
import { FakeContainerizer } from './fake-containerizer.js';

describe('cri recovery at start-up', () => {
  let t: Harness;
  beforeEach(async () => {
    t = await harness();
    await recoverRuntime(t.deps);
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('keeps running containers, reports exits and lost ones, re-arms exit watchers', async () => {
    const pod = ((await t.call('runPodSandbox', runPodReq())) as RunPodSandboxResponse).podSandboxId;
    const ids: string[] = [];
    for (const n of ['run', 'done', 'lost', 'made']) {
      ids.push(((await t.call('createContainer', createReq(pod, n))) as CreateContainerResponse).containerId);
    }
    const [run, done, lost, made] = ids as [string, string, string, string];
    for (const id of [run, done, lost]) await t.call('startContainer', { containerId: id });

    // "ucri is killed": a new daemon over the same work dir; the containerizer kept what it ran.
    const fake = new FakeContainerizer();
    fake.pods.set(pod, { spec: t.deps.sandboxes.must(pod).meta.spec, stopped: false });
    for (const id of [run, done, made]) {
      const c = t.fake.containers.get(id)!;
      fake.containers.set(id, c);
    }
    t.fake.exit(done, 7); // exited while ucri was down (its watcher died with the old daemon)
    const t2 = t.restart(fake);
    await recoverRuntime(t2.deps);
    assert.deepEqual(fake.recoverCalledWith?.containers.map((c) => c.id).sort(), [...ids].sort());
    assert.deepEqual(
      fake.recoverCalledWith?.pods.map((p) => p.id),
      [pod],
    );

    const status = async (id: string) =>
      ((await t2.call('containerStatus', { containerId: id, verbose: false })) as ContainerStatusResponse).status!;
    assert.equal((await status(run)).state, ContainerState.CONTAINER_RUNNING);
    assert.equal(t2.deps.containers.must(run).status.pid, t.deps.containers.must(run).status.pid);
    assert.equal((await status(done)).state, ContainerState.CONTAINER_EXITED);
    assert.equal((await status(done)).exitCode, 7);
    assert.equal((await status(lost)).state, ContainerState.CONTAINER_EXITED);
    assert.equal((await status(lost)).exitCode, 255);
    assert.equal((await status(lost)).reason, 'Unknown');
    assert.equal((await status(made)).state, ContainerState.CONTAINER_CREATED);

    await exitAndWait(t2, run, 0);
    assert.equal((await status(run)).state, ContainerState.CONTAINER_EXITED);
    assert.equal((await status(run)).reason, 'Completed');
  });

  it('adopts an interrupted container create whose container was recovered, rolls back the others', async () => {
    const pod = ((await t.call('runPodSandbox', runPodReq())) as RunPodSandboxResponse).podSandboxId;
    const ids: string[] = [];
    for (const n of ['whole', 'half', 'started']) {
      ids.push(((await t.call('createContainer', createReq(pod, n))) as CreateContainerResponse).containerId);
    }
    const [whole, half, started] = ids as [string, string, string];
    // ucri died after the containerizer's last create step, before it answered: the CRI records say creating.
    for (const id of ids) await t.deps.containers.update(id, (s) => ({ ...s, state: 'creating' }));

    const fake = new FakeContainerizer();
    fake.pods.set(pod, { spec: t.deps.sandboxes.must(pod).meta.spec, stopped: false });
    const c = t.fake.containers.get(whole)!;
    fake.containers.set(whole, c);
    fake.recovered = [
      { id: whole, state: 'created', runtime: c.runtime },
      { id: half, state: 'lost' }, // the create never became durable in the containerizer
      { id: started, state: 'lost', wasCreated: true }, // whole, then started and lost: the client knew it
    ];
    const t2 = t.restart(fake);
    await recoverRuntime(t2.deps);
    assert.deepEqual(fake.recoverCalledWith?.containers.map((s) => s.id).sort(), [...ids].sort());

    const status = async (id: string) =>
      ((await t2.call('containerStatus', { containerId: id, verbose: false })) as ContainerStatusResponse).status!;
    assert.equal((await status(whole)).state, ContainerState.CONTAINER_CREATED);
    assert.equal(t2.deps.containers.must(whole).status.state, 'created');
    assert.ok(!fake.calls.includes(`removeContainer ${whole}`));
    // A retry of the interrupted request gets the adopted container.
    const again = (await t2.call('createContainer', createReq(pod, 'whole'))) as CreateContainerResponse;
    assert.equal(again.containerId, whole);

    assert.equal(t2.deps.containers.get(half), undefined);
    assert.ok(fake.calls.includes(`removeContainer ${half}`));
    assert.equal(t2.deps.containers.names.get(t.deps.containers.must(half).meta.name), undefined);

    assert.equal((await status(started)).state, ContainerState.CONTAINER_EXITED);
    assert.equal((await status(started)).exitCode, 255);
  });

  it('rolls back creates a crash interrupted and marks lost pods NOTREADY', async () => {
    const pod = ((await t.call('runPodSandbox', runPodReq('keep'))) as RunPodSandboxResponse).podSandboxId;
    // A create that never finished: the record is still `creating`.
    const half = 'e'.repeat(64);
    await t.deps.sandboxes.add(
      {
        id: half,
        spec: { ...t.deps.sandboxes.must(pod).meta.spec, id: half, name: 'half' },
        name: 'half_default_u_0',
        fingerprint: 'x',
        createdAt: 1n,
      },
      { state: 'creating', ips: [], netnsPath: '' },
    );
    const fake = new FakeContainerizer(); // knows nothing: the pod is lost
    const t2 = t.restart(fake);
    await recoverRuntime(t2.deps);
    assert.equal(t2.deps.sandboxes.get(half), undefined);
    assert.ok(fake.calls.includes(`stopPod ${half}`) && fake.calls.includes(`removePod ${half}`));
    const st = (await t2.call('podSandboxStatus', { podSandboxId: pod, verbose: false })) as PodSandboxStatusResponse;
    assert.equal(st.status?.state, PodSandboxState.SANDBOX_NOTREADY);
    // The freed name can be used again, the kept one is still reserved.
    assert.equal(t2.deps.sandboxes.names.get('half_default_u_0'), undefined);
    assert.ok(t2.deps.sandboxes.names.get('keep_default_uid-keep_0'));
  });
});
