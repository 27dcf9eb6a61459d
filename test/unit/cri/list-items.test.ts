/**
 * ListContainers and ListPodSandbox answers from items kept per record version (pkg/cri/list-items.ts): the
 * bytes are those of the generated encoder, an item is made once per record object and made again when the
 * record changes, and items are frozen.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  Container,
  ContainerState,
  type CreateContainerResponse,
  ListContainersResponse,
  ListPodSandboxResponse,
  PodSandbox,
  PodSandboxState,
  type RunPodSandboxResponse,
} from '../../../pkg/cri/gen/cri/v1/api.js';
import { ListItems } from '../../../pkg/cri/list-items.js';
import { RuntimeServiceService } from '../../../pkg/cri/services.js';
import { createReq, type Harness, loadedHarness, runPodReq } from './harness.js';

const generic = {
  containers: (res: ListContainersResponse) => Buffer.from(ListContainersResponse.encode(res).finish()),
  pods: (res: ListPodSandboxResponse) => Buffer.from(ListPodSandboxResponse.encode(res).finish()),
};

describe('ListItems', () => {
  it('encodes a list byte for byte as the generated encoder, long items and empty lists included', () => {
    const items = new ListItems<{ n: number }, Container>(Container, 1);
    const long = 'l'.repeat(300); // an item over 127 bytes: a two-byte length
    const recs = [{ n: 1 }, { n: 2 }, { n: 3 }];
    const made = recs.map((r) =>
      items.item(r, () =>
        Container.fromPartial({
          id: `c${r.n}`,
          podSandboxId: 'p',
          metadata: { name: `n${r.n}`, attempt: r.n },
          state: ContainerState.CONTAINER_RUNNING,
          createdAt: 1_700_000_000_000_000_000n + BigInt(r.n),
          labels: r.n === 2 ? { big: long } : { a: 'b' },
          annotations: { x: 'y' },
        }),
      ),
    );
    for (const list of [[], made, [made[1]!], [...made, ...made]]) {
      assert.deepEqual(items.encodeList(list), generic.containers({ containers: list }));
      assert.deepEqual(ListContainersResponse.decode(items.encodeList(list)).containers, list);
    }
  });

  it('makes an item once per record object, freezes it, and encodes others afresh', () => {
    const items = new ListItems<object, PodSandbox>(PodSandbox, 1);
    let made = 0;
    const make = () => {
      made++;
      return PodSandbox.fromPartial({ id: 'p1', labels: { a: 'b' }, metadata: { name: 'web' } });
    };
    const rec = {};
    const a = items.item(rec, make);
    assert.equal(items.item(rec, make), a);
    assert.equal(made, 1);
    assert.ok(Object.isFrozen(a) && Object.isFrozen(a.labels) && Object.isFrozen(a.metadata));
    assert.notEqual(items.item({}, make), a, 'another record (version) gets its own item');
    assert.equal(made, 2);
    // A message not made by item() may change between calls: its bytes are never kept.
    const loose = PodSandbox.fromPartial({ id: 'first' });
    assert.deepEqual(items.encodeList([loose]), generic.pods({ items: [loose] }));
    loose.id = 'second';
    assert.deepEqual(items.encodeList([loose]), generic.pods({ items: [loose] }));
  });
});

describe('ListContainers and ListPodSandbox answers', () => {
  let t: Harness;
  beforeEach(async () => {
    t = await loadedHarness();
  });
  afterEach(async () => {
    await t.cleanup();
  });

  const listContainers = async () => {
    const res = (await t.call('listContainers', { filter: undefined })) as ListContainersResponse;
    const bytes = RuntimeServiceService.listContainers.responseSerialize(res);
    assert.deepEqual(bytes, generic.containers(res), 'the same bytes as the generated encoder');
    return RuntimeServiceService.listContainers.responseDeserialize(bytes);
  };
  const listPods = async () => {
    const res = (await t.call('listPodSandbox', { filter: undefined })) as ListPodSandboxResponse;
    const bytes = RuntimeServiceService.listPodSandbox.responseSerialize(res);
    assert.deepEqual(bytes, generic.pods(res), 'the same bytes as the generated encoder');
    return RuntimeServiceService.listPodSandbox.responseDeserialize(bytes);
  };

  it('answer with the state of the records as they are at each call', async () => {
    const pod = ((await t.call('runPodSandbox', runPodReq('web'))) as RunPodSandboxResponse).podSandboxId;
    const cid = ((await t.call('createContainer', createReq(pod, 'c1'))) as CreateContainerResponse).containerId;
    assert.deepEqual(
      (await listContainers()).containers.map((c) => [c.id, c.state]),
      [[cid, ContainerState.CONTAINER_CREATED]],
    );
    assert.deepEqual(
      (await listPods()).items.map((p) => [p.id, p.state]),
      [[pod, PodSandboxState.SANDBOX_READY]],
    );
    const first = (await t.call('listContainers', { filter: undefined })) as ListContainersResponse;
    const again = (await t.call('listContainers', { filter: undefined })) as ListContainersResponse;
    assert.equal(again.containers[0], first.containers[0], 'an unchanged record answers with its kept item');

    await t.call('startContainer', { containerId: cid });
    assert.deepEqual(
      (await listContainers()).containers.map((c) => [c.id, c.state]),
      [[cid, ContainerState.CONTAINER_RUNNING]],
    );
    await t.call('stopContainer', { containerId: cid, timeout: 0n });
    assert.deepEqual(
      (await listContainers()).containers.map((c) => [c.id, c.state]),
      [[cid, ContainerState.CONTAINER_EXITED]],
    );
    await t.call('stopPodSandbox', { podSandboxId: pod });
    assert.deepEqual(
      (await listPods()).items.map((p) => [p.id, p.state]),
      [[pod, PodSandboxState.SANDBOX_NOTREADY]],
    );
    await t.call('removePodSandbox', { podSandboxId: pod });
    assert.deepEqual((await listContainers()).containers, []);
    assert.deepEqual((await listPods()).items, []);
  });
});
