/**
 * The Stream* verbs against their List twins over the socket: 200 host-network pods (cheap: no CNI) and
 * 110 containers created (not started) in them, streamed in chunks with the same filters as the List calls; a cancelled
 * stream ends and the daemon serves on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { grpc, RunPodSandboxRequest, statusOf } from '../support/cri-client.js';
import { containerConfig, finishPodEnv, type PodEnv, podConfig, startPodEnv } from './pod-fixture.js';

const ITEMS = 200;
/** Containers cost a runc create each: enough for two chunks of 100 is enough to compare. */
const CONTAINERS = 110;

/** Reads a whole server stream: its messages in order. */
function collect<M>(call: grpc.ClientReadableStream<M>): Promise<M[]> {
  const out: M[] = [];
  return new Promise((resolve, reject) => {
    call.on('data', (m: M) => out.push(m));
    call.on('error', reject);
    call.on('end', () => resolve(out));
  });
}

function deadline() {
  return { deadline: Date.now() + 60_000 };
}

describe('Stream* verbs (e2e)', () => {
  let env: PodEnv;
  let ok = false;
  const pods: string[] = [];
  const containers: string[] = [];
  before(async () => {
    env = await startPodEnv();
    // Host-network pods skip CNI; ten at a time keeps the two cores busy without starving the daemon.
    for (let i = 0; i < ITEMS; i += 10) {
      const made = await Promise.all(
        Array.from({ length: Math.min(10, ITEMS - i) }, async (_, j) => {
          const name = `st${i + j}`;
          const config = RunPodSandboxRequest.fromPartial({
            config: {
              ...podConfig(env, name),
              labels: { 'e2e-pod': name, parity: String((i + j) % 2) },
              linux: { securityContext: { namespaceOptions: { network: 2, pid: 1, ipc: 0, targetId: '' } } },
            },
          }).config!;
          const { podSandboxId } = await env.c.runtime.runPodSandbox({ config, runtimeHandler: '' });
          if (i + j >= CONTAINERS) return { podSandboxId, containerId: '' };
          const { containerId } = await env.c.runtime.createContainer({
            podSandboxId,
            config: containerConfig(env, 'c', 'sleep 1000', { labels: { parity: String((i + j) % 2) } }),
            sandboxConfig: config,
          });
          return { podSandboxId, containerId };
        }),
      );
      for (const m of made) {
        pods.push(m.podSandboxId);
        if (m.containerId) containers.push(m.containerId);
      }
    }
  });
  after(async () => {
    // finishPodEnv removes pods one by one; 200 go faster twenty at a time.
    for (let i = 0; i < pods.length; i += 20) {
      await Promise.all(
        pods.slice(i, i + 20).map(async (podSandboxId) => {
          await env.c.runtime.stopPodSandbox({ podSandboxId });
          await env.c.runtime.removePodSandbox({ podSandboxId });
        }),
      );
    }
    await finishPodEnv(env, ok);
  });

  it('StreamPodSandboxes sends ListPodSandbox items in chunks, with the same filters', async () => {
    const { items } = await env.c.runtime.listPodSandbox({ filter: undefined });
    assert.equal(items.length, ITEMS);
    const chunks = await collect(env.c.rawRuntime.streamPodSandboxes({ filter: undefined }, deadline()));
    assert.ok(chunks.length > 1, `${chunks.length} chunk(s) for ${ITEMS} pods`);
    assert.deepEqual(
      chunks.flatMap((c) => c.podSandboxes),
      items,
    );
    const filter = { id: '', state: undefined, labelSelector: { parity: '1' } };
    const listed = (await env.c.runtime.listPodSandbox({ filter })).items;
    assert.equal(listed.length, ITEMS / 2);
    const streamed = (await collect(env.c.rawRuntime.streamPodSandboxes({ filter }, deadline()))).flatMap(
      (c) => c.podSandboxes,
    );
    assert.deepEqual(streamed, listed);
  });

  it('StreamContainers sends ListContainers items in chunks, with the same filters', async () => {
    const { containers: all } = await env.c.runtime.listContainers({ filter: undefined });
    assert.equal(all.length, CONTAINERS);
    const chunks = await collect(env.c.rawRuntime.streamContainers({ filter: undefined }, deadline()));
    assert.ok(chunks.length > 1);
    assert.deepEqual(
      chunks.flatMap((c) => c.containers),
      all,
    );
    const filter = { id: '', state: undefined, podSandboxId: pods[7]!, labelSelector: {} };
    const one = (await collect(env.c.rawRuntime.streamContainers({ filter }, deadline()))).flatMap((c) => c.containers);
    assert.deepEqual(
      one.map((c) => c.id),
      [containers[7]],
    );
    assert.deepEqual(one, (await env.c.runtime.listContainers({ filter })).containers);
  });

  it('StreamContainerStats and StreamPodSandboxStats report what their List twins report', async () => {
    const listed = (await env.c.runtime.listContainerStats({ filter: undefined })).stats;
    const streamed = (await collect(env.c.rawRuntime.streamContainerStats({ filter: undefined }, deadline()))).flatMap(
      (c) => c.containerStats,
    );
    assert.equal(listed.length, CONTAINERS);
    // Usage figures move between two samples; the identities and their order must not.
    assert.deepEqual(
      streamed.map((s) => s.attributes),
      listed.map((s) => s.attributes),
    );
    const filter = { id: '', labelSelector: { parity: '0' } };
    const pl = (await env.c.runtime.listPodSandboxStats({ filter })).stats;
    const ps = (await collect(env.c.rawRuntime.streamPodSandboxStats({ filter }, deadline()))).flatMap(
      (c) => c.podSandboxStats,
    );
    assert.equal(pl.length, ITEMS / 2);
    assert.deepEqual(
      ps.map((s) => s.attributes),
      pl.map((s) => s.attributes),
    );
  });

  it('StreamImages sends ListImages items, with the same filter', async () => {
    const { images } = await env.c.image.listImages({ filter: undefined });
    const streamed = (await collect(env.c.rawImage.streamImages({ filter: undefined }, deadline()))).flatMap(
      (c) => c.images,
    );
    assert.deepEqual(streamed, images);
    const filter = {
      image: { image: env.image, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
    };
    const one = (await collect(env.c.rawImage.streamImages({ filter }, deadline()))).flatMap((c) => c.images);
    assert.deepEqual(
      one.map((i) => i.id),
      [env.imageId],
    );
  });

  it('a stream the client cancels after its first chunk ends, and the daemon serves on', async () => {
    const call = env.c.rawRuntime.streamContainerStats({ filter: undefined }, deadline());
    const err = await new Promise<unknown>((resolve) => {
      call.once('data', () => call.cancel());
      call.on('error', resolve);
      call.on('end', () => resolve(undefined));
    });
    assert.equal(statusOf(err), grpc.status.CANCELLED);
    const { items } = await env.c.runtime.listPodSandbox({ filter: undefined });
    assert.equal(items.length, ITEMS);
    ok = true;
  });
});
