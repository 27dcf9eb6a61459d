import assert from 'node:assert/strict';
import { access, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  ContainerEventType,
  ContainerState,
  PodSandboxState,
  type ContainerEventResponse,
  type ContainerStatusResponse,
  type CreateContainerResponse,
  type ListContainersResponse,
  type ListPodSandboxResponse,
  type PodSandboxStatusResponse,
  type RunPodSandboxResponse,
} from '../../../pkg/cri/gen/cri/v1/api.js';
import { InternalError, isKind } from '../../../pkg/util/index.js';
import { createReq, ctx, exitAndWait, type Harness, loadedHarness, runPodReq } from './harness.js';

async function runPod(t: Harness, name = 'web'): Promise<string> {
  return ((await t.call('runPodSandbox', runPodReq(name))) as RunPodSandboxResponse).podSandboxId;
}
async function create(t: Harness, pod: string, name = 'c1'): Promise<string> {
  return ((await t.call('createContainer', createReq(pod, name))) as CreateContainerResponse).containerId;
}
async function cstatus(t: Harness, id: string, verbose = false): Promise<ContainerStatusResponse> {
  return (await t.call('containerStatus', { containerId: id, verbose })) as ContainerStatusResponse;
}
const ids = (r: ListPodSandboxResponse) => r.items.map((i) => i.id).sort();
/** Lets the exit watcher's promise chain run (it is not awaited by anything). */
const settle = () => new Promise((r) => setImmediate(r));

describe('cri runtime verbs over a fake containerizer', () => {
  let t: Harness;
  beforeEach(async () => {
    t = await loadedHarness();
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('runs a pod and reports it in status and list with filters', async () => {
    const id = await runPod(t);
    assert.match(id, /^[0-9a-f]{64}$/);
    const st = (await t.call('podSandboxStatus', {
      podSandboxId: id.slice(0, 12),
      verbose: true,
    })) as PodSandboxStatusResponse;
    assert.equal(st.status?.state, PodSandboxState.SANDBOX_READY);
    assert.equal(st.status?.network?.ip, '10.0.0.2');
    assert.deepEqual(st.status?.network?.additionalIps, [{ ip: 'fd00::2' }]);
    assert.equal(st.status?.metadata?.name, 'web');
    assert.equal(st.status?.runtimeHandler, 'mesos');
    assert.ok(st.status!.createdAt > 1_600_000_000_000_000_000n, 'created_at is in nanoseconds');
    assert.equal(JSON.parse(st.info.info!).spec.id, id);

    const other = await runPod(t, 'db');
    const all = (await t.call('listPodSandbox', { filter: undefined })) as ListPodSandboxResponse;
    assert.deepEqual(ids(all), [id, other].sort());
    const byLabel = (await t.call('listPodSandbox', {
      filter: { id: '', state: undefined, labelSelector: { app: 'db' } },
    })) as ListPodSandboxResponse;
    assert.deepEqual(ids(byLabel), [other]);
    const byPrefix = (await t.call('listPodSandbox', {
      filter: { id: id.slice(0, 8), state: undefined, labelSelector: {} },
    })) as ListPodSandboxResponse;
    assert.deepEqual(ids(byPrefix), [id]);

    await t.call('stopPodSandbox', { podSandboxId: other });
    const ready = (await t.call('listPodSandbox', {
      filter: { id: '', state: { state: PodSandboxState.SANDBOX_READY }, labelSelector: {} },
    })) as ListPodSandboxResponse;
    assert.deepEqual(ids(ready), [id]);
  });

  it('returns the same id for a retried RunPodSandbox and refuses a different request with the name', async () => {
    let release!: () => void;
    t.fake.holdNext.set(
      'runPod',
      new Promise<void>((r) => {
        release = r;
      }),
    );
    const first = t.call('runPodSandbox', runPodReq('web'));
    // The client gives up: its call fails, the work goes on.
    const ac = new AbortController();
    const timedOut = t.call('runPodSandbox', runPodReq('web'), ac.signal);
    ac.abort();
    await assert.rejects(timedOut, (e) => isKind(e, 'Cancelled'));
    const retry = t.call('runPodSandbox', runPodReq('web'));
    release();
    const [a, b] = (await Promise.all([first, retry])) as RunPodSandboxResponse[];
    assert.equal(a!.podSandboxId, b!.podSandboxId);
    assert.equal(t.fake.calls.filter((c) => c.startsWith('runPod')).length, 1);
    const again = (await t.call('runPodSandbox', runPodReq('web'))) as RunPodSandboxResponse;
    assert.equal(again.podSandboxId, a!.podSandboxId);
    await assert.rejects(
      t.call('runPodSandbox', runPodReq('web', { hostname: 'other' })),
      (e) => isKind(e, 'AlreadyExists') && (e as Error).message.includes(a!.podSandboxId),
    );
  });

  it('rolls a failed RunPodSandbox back: no record, name free, pod removed', async () => {
    t.fake.failNext.set('runPod', new InternalError('cni add failed'));
    await assert.rejects(t.call('runPodSandbox', runPodReq('web')), /cni add failed/);
    assert.equal(t.deps.sandboxes.list().length, 0);
    assert.deepEqual(await readdir(path.join(t.dir, 'cri', 'sandboxes')), []);
    const id = await runPod(t);
    assert.ok(t.deps.sandboxes.get(id));
  });

  it('takes a container through create, start, exit, stop and remove with events', async () => {
    const pod = await runPod(t);
    const sub = t.deps.events.subscribe();
    const cid = await create(t, pod);
    let st = await cstatus(t, cid);
    assert.equal(st.status?.state, ContainerState.CONTAINER_CREATED);
    assert.equal(st.status?.logPath, '/var/log/pods/default_web/c1/0.log');
    assert.equal(st.status?.image?.image, 'docker.io/library/busybox:latest');
    assert.match(st.status!.imageRef, /^docker\.io\/library\/busybox@sha256:/);
    assert.equal(st.status?.mounts[0]?.containerPath, '/data');
    assert.equal(st.status?.mounts[0]?.readonly, true);

    await t.call('startContainer', { containerId: cid });
    st = await cstatus(t, cid, true);
    assert.equal(st.status?.state, ContainerState.CONTAINER_RUNNING);
    assert.ok(st.status!.startedAt > 0n);
    const info = JSON.parse(st.info.info!);
    assert.equal(info.mesosState, 'RUNNING');
    assert.equal(info.pid, 1000);
    // A retried start (its answer lost to a crash or a client timeout) succeeds and starts nothing new.
    const startsBefore = t.fake.calls.filter((c) => c.startsWith('startContainer')).length;
    await t.call('startContainer', { containerId: cid });
    assert.equal(t.fake.calls.filter((c) => c.startsWith('startContainer')).length, startsBefore);

    const exec = await t.call('execSync', { containerId: cid, cmd: ['echo', 'hi'], timeout: 0n });
    assert.equal((exec as { stdout: Buffer }).stdout.toString(), 'echo hi');
    await assert.rejects(t.call('execSync', { containerId: cid, cmd: ['sleep', '9'], timeout: 1n }), (e) =>
      isKind(e, 'DeadlineExceeded'),
    );

    await exitAndWait(t, cid, 3);
    st = await cstatus(t, cid);
    assert.equal(st.status?.state, ContainerState.CONTAINER_EXITED);
    assert.equal(st.status?.exitCode, 3);
    assert.equal(st.status?.reason, 'Error');
    await assert.rejects(t.call('reopenContainerLog', { containerId: cid }), (e) => isKind(e, 'FailedPrecondition'));

    await t.call('stopContainer', { containerId: cid, timeout: 10n });
    await t.call('stopContainer', { containerId: cid, timeout: 10n });
    await t.call('removeContainer', { containerId: cid });
    // The containerizer's release is held back until the answer is on its way (an immediate after the call).
    const { later, releaseAfter } = t.fake.removeOptions.at(-1)!;
    assert.equal(later, true);
    let released = false;
    void releaseAfter!.then(() => (released = true));
    await Promise.resolve();
    assert.equal(released, false);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(released, true);
    await assert.rejects(access(path.join(t.dir, 'cri', 'containers', `${cid}.json`)));
    await t.call('removeContainer', { containerId: cid });
    await assert.rejects(cstatus(t, cid), (e) => isKind(e, 'NotFound'));

    const signal = new AbortController().signal;
    const types: ContainerEventType[] = [];
    for (let i = 0; i < 4; i++) types.push((await sub.next(signal)).containerEventType);
    assert.deepEqual(types, [
      ContainerEventType.CONTAINER_CREATED_EVENT,
      ContainerEventType.CONTAINER_STARTED_EVENT,
      ContainerEventType.CONTAINER_STOPPED_EVENT,
      ContainerEventType.CONTAINER_DELETED_EVENT,
    ]);
    sub.close();
  });

  it('streams events through GetContainerEvents until the client cancels', async () => {
    const pod = await runPod(t);
    const ac = new AbortController();
    const got: ContainerEventResponse[] = [];
    const stream = t.h.getContainerEvents({}, ctx(ac.signal), (e) => {
      got.push(e);
      if (got.length === 1) ac.abort();
    });
    await settle();
    const cid = await create(t, pod);
    await assert.rejects(stream, (e) => isKind(e, 'Cancelled'));
    assert.equal(got[0]?.containerId, cid);
    assert.equal(got[0]?.podSandboxStatus?.id, pod);
    assert.equal(got[0]?.containersStatuses[0]?.id, cid);
    assert.equal(t.deps.events.size, 0);
  });

  it('stops running containers with a timeout and refuses creates in a stopped pod', async () => {
    const pod = await runPod(t);
    const cid = await create(t, pod);
    await t.call('startContainer', { containerId: cid });
    await t.call('stopContainer', { containerId: cid, timeout: 5n });
    const st = await cstatus(t, cid);
    assert.equal(st.status?.state, ContainerState.CONTAINER_EXITED);
    assert.equal(st.status?.exitCode, 143);
    await t.call('stopPodSandbox', { podSandboxId: pod });
    await t.call('stopPodSandbox', { podSandboxId: pod });
    await assert.rejects(create(t, pod, 'c2'), (e) => isKind(e, 'FailedPrecondition'));
    await assert.rejects(t.call('stopContainer', { containerId: 'f'.repeat(64), timeout: 0n }), (e) =>
      isKind(e, 'NotFound'),
    );
  });

  it('answers NOT_FOUND for a missing image and leaves no record', async () => {
    const pod = await runPod(t);
    const req = createReq(pod);
    req.config!.image!.image = 'docker.io/library/nothere:1';
    await assert.rejects(
      t.call('createContainer', req),
      (e) => isKind(e, 'NotFound') && /image "docker.io\/library\/nothere:1" not found/.test((e as Error).message),
    );
    assert.equal(t.deps.containers.list().length, 0);
  });

  it('rolls a failed CreateContainer back and lets the retry through; same request returns the same id', async () => {
    const pod = await runPod(t);
    t.fake.failNext.set('createContainer', new InternalError('rootfs failed'));
    await assert.rejects(create(t, pod), /rootfs failed/);
    assert.equal(t.deps.containers.list().length, 0);
    const a = await create(t, pod);
    const b = await create(t, pod);
    assert.equal(a, b);
    const other = createReq(pod);
    other.config!.command = ['true'];
    await assert.rejects(t.call('createContainer', other), (e) => isKind(e, 'AlreadyExists'));
  });

  it('CreateContainer: the containerizer runs alongside the intent record and sees it written before it goes on', async () => {
    const pod = await runPod(t);
    const seen: string[][] = [];
    t.fake.onIntent = async (id) => {
      assert.ok(t.deps.containers.get(id), 'the record is in memory once the intent resolved');
      seen.push(await readdir(t.deps.containers.dir));
    };
    const id = await create(t, pod);
    assert.deepEqual(seen, [[`${id}.json`]], 'the record file is in place once the intent resolved');
    // A containerizer that fails while the record is being written: the record never survives the rollback.
    t.fake.onIntent = undefined;
    t.fake.failNext.set('createContainer', new InternalError('provision failed'));
    await assert.rejects(create(t, pod, 'c2'), /provision failed/);
    assert.deepEqual(
      t.deps.containers.list().map((c) => c.meta.id),
      [id],
    );
    assert.deepEqual(await readdir(t.deps.containers.dir), [`${id}.json`]);
  });

  it('removes a pod with its containers; remove and stop of unknown pods succeed', async () => {
    const pod = await runPod(t);
    const c1 = await create(t, pod, 'c1');
    const c2 = await create(t, pod, 'c2');
    await t.call('startContainer', { containerId: c1 });
    const list = (await t.call('listContainers', {
      filter: { id: '', state: undefined, podSandboxId: pod, labelSelector: { role: 'c2' } },
    })) as ListContainersResponse;
    assert.deepEqual(
      list.containers.map((c) => c.id),
      [c2],
    );
    await t.call('removePodSandbox', { podSandboxId: pod });
    assert.equal(t.deps.containers.list().length, 0);
    assert.equal(t.deps.sandboxes.list().length, 0);
    assert.equal(t.fake.pods.size, 0);
    assert.equal(t.fake.containers.size, 0);
    await t.call('removePodSandbox', { podSandboxId: pod });
    await t.call('stopPodSandbox', { podSandboxId: pod });
  });

  it('reports stats from the containerizer', async () => {
    const pod = await runPod(t);
    const cid = await create(t, pod);
    await t.call('startContainer', { containerId: cid });
    const cs = (await t.call('containerStats', { containerId: cid })) as {
      stats: { cpu: { usageCoreNanoSeconds: { value: bigint } }; memory: { workingSetBytes: { value: bigint } } };
    };
    assert.equal(cs.stats.cpu.usageCoreNanoSeconds.value, 123n);
    assert.equal(cs.stats.memory.workingSetBytes.value, 4096n);
    const ps = (await t.call('listPodSandboxStats', { filter: undefined })) as {
      stats: Array<{
        attributes: { id: string };
        linux: { containers: unknown[]; cpu: { usageCoreNanoSeconds: { value: bigint } } };
      }>;
    };
    assert.equal(ps.stats.length, 1);
    assert.equal(ps.stats[0]?.attributes.id, pod);
    assert.equal(ps.stats[0]?.linux.containers.length, 1);
    assert.equal(ps.stats[0]?.linux.cpu.usageCoreNanoSeconds.value, 999n);
    const ls = (await t.call('listContainerStats', {
      filter: { id: '', podSandboxId: 'ffff', labelSelector: {} },
    })) as { stats: unknown[] };
    assert.equal(ls.stats.length, 0);
  });

  it('updates resources of a running container, merging with the current ones', async () => {
    const pod = await runPod(t);
    const cid = await create(t, pod);
    await t.call('startContainer', { containerId: cid });
    await t.call('updateContainerResources', {
      containerId: cid,
      linux: {
        cpuPeriod: 0n,
        cpuQuota: 0n,
        cpuShares: 512n,
        memoryLimitInBytes: 64n << 20n,
        oomScoreAdj: 0n,
        cpusetCpus: '',
        cpusetMems: '',
        hugepageLimits: [],
        unified: {},
        memorySwapLimitInBytes: 0n,
      },
      windows: undefined,
      annotations: {},
    });
    const st = await cstatus(t, cid);
    assert.equal(st.status?.resources?.linux?.memoryLimitInBytes, 64n << 20n);
    assert.equal(st.status?.resources?.linux?.cpuShares, 512n);
    assert.equal(t.fake.containers.get(cid)?.resources.cpuShares, 512);
  });
});
