/**
 * Recovery: a containerizer object is dropped as if ucri died (conmon and the containers keep running), a
 * new one recovers from the checkpoints. Running containers stay running, an exit that happened while "down"
 * is reported with its code, created containers can still be started, and orphans are destroyed. Needs root.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { isAlive, isPinned, listPinnedIds } from '../../../pkg/sys/index.js';
import { Fixture, hexId } from './fixture.js';

let f: Fixture;
const signal = (): AbortSignal => AbortSignal.timeout(60_000);

before(async () => {
  f = await Fixture.create();
});

after(async () => {
  if (f) await f.cleanup();
});

// Under either container monitor, and across a change of monitor (containers keep the one they started with).
for (const [before, after] of [
  ['ucri', 'ucri'],
  ['conmon', 'conmon'],
  ['conmon', 'ucri'],
] as const) {
  it(`recovers running, exited and created containers and destroys orphans (monitor ${before} → ${after})`, async () => {
    const m1 = f.containerizer({ monitor: before });
    await m1.recover({ pods: [], containers: [] });
    const pod = f.podSpec();
    const orphanPod = f.podSpec();
    await m1.runPod(pod, signal());
    await m1.runPod(orphanPod, signal());
    const trap = (code: number) => ['sh', '-c', `trap "exit ${code}" TERM; echo up; sleep 300 & wait`];
    const running = f.containerSpec(pod, trap(11));
    const dying = f.containerSpec(pod, trap(7));
    const created = f.containerSpec(pod, ['sh', '-c', 'exit 4']);
    const orphan = f.containerSpec(orphanPod, ['sleep', '300']);
    for (const s of [running, dying, orphan]) {
      await m1.createContainer(s, s.podId === pod.id ? pod : orphanPod, signal());
      await m1.startContainer(s.id, signal());
    }
    await m1.createContainer(created, pod, signal());
    const runningPid = m1.containerRuntime(running.id).pid;
    const dyingPid = m1.containerRuntime(dying.id).pid;
    const orphanPid = m1.containerRuntime(orphan.id).pid;
    const orphanNetns = m1.podRuntime(orphanPod.id)!.netnsPath;

    // ucri "dies": the object is dropped, conmon and the containers live on.
    m1.close();
    // While it is down, one container ends (the shell we started, by its pid) and conmon records the exit.
    await waitFor(async () => (await f.logLines(dying)).includes('up'));
    process.kill(dyingPid, 'SIGTERM');
    await waitFor(() =>
      fs.access(`${f.runtimeDir}/mesos/exits/${dying.id}`).then(
        () => true,
        () => false,
      ),
    );

    const m2 = f.containerizer({ monitor: after });
    const lostId = hexId();
    const found = await m2.recover({
      pods: [pod],
      containers: [running, dying, created, { ...created, id: lostId }],
    });
    const byId = new Map(found.map((r) => [r.id, r]));
    assert.equal(byId.get(running.id)?.state, 'running');
    assert.equal(m2.containerRuntime(running.id).pid, runningPid);
    assert.equal(byId.get(dying.id)?.state, 'exited');
    const t = await m2.wait(dying.id);
    assert.deepEqual([t.exitCode, t.reason], [7, 'Error']);
    assert.ok(t.finishedAt > 0n);
    assert.equal(byId.get(created.id)?.state, 'created');
    assert.equal(byId.get(lostId)?.state, 'lost');
    assert.ok(m2.podRuntime(pod.id));

    // The orphan pod and its container are gone: process, pins, records.
    assert.equal(m2.podRuntime(orphanPod.id), undefined);
    assert.equal(await isAlive(orphanPid), false);
    assert.equal(await isPinned(orphanNetns), false);
    assert.deepEqual(await listPinnedIds(`${f.runtimeDir}/mesos/pins`), [pod.id]);

    // The re-armed exit watcher sees the recovered container end.
    await m2.stopContainer(running.id, 30, signal());
    assert.equal((await m2.wait(running.id)).exitCode, 11);
    // A container created before the restart still starts.
    await m2.startContainer(created.id, signal());
    assert.equal((await m2.wait(created.id)).exitCode, 4);

    await m2.removePod(pod.id, signal());
    m2.close();
    await f.assertClean();
  });
}

async function waitFor(fn: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 25));
  }
}

it('adopts a create whose three records were made durable, destroys one that lost its provisioner record', async () => {
  const m1 = f.containerizer();
  await m1.recover({ pods: [], containers: [] });
  const pod = f.podSpec();
  await m1.runPod(pod, signal());
  const whole = f.containerSpec(pod, ['sh', '-c', 'exit 3']);
  const half = f.containerSpec(pod, ['sh', '-c', 'exit 3']);
  const synced: string[] = [];
  for (const s of [whole, half]) {
    await m1.createContainer(s, pod, signal(), { durableWith: async () => void synced.push(s.id) });
  }
  // The caller's record is made durable in the create's last step, once per create.
  assert.deepEqual(synced, [whole.id, half.id]);
  m1.close();

  // A power loss during the last step of `half`'s create kept its container record but not the provisioner's.
  const record = path.join(f.workDir, 'provisioner', 'containers', half.id, 'record.json');
  await fs.rm(record);
  const m2 = f.containerizer();
  const found = new Map((await m2.recover({ pods: [pod], containers: [whole, half] })).map((r) => [r.id, r]));
  assert.equal(found.get(whole.id)?.state, 'created');
  assert.deepEqual(found.get(half.id), { id: half.id, state: 'lost' });
  // Destroyed as unfinished: its rootfs and its record are gone; the whole one still starts.
  await assert.rejects(fs.access(path.join(f.workDir, 'provisioner', 'containers', half.id)));
  await assert.rejects(m2.startContainer(half.id, signal()), /not found/);
  await m2.startContainer(whole.id, signal());
  assert.equal((await m2.wait(whole.id)).exitCode, 3);

  await m2.removePod(pod.id, signal());
  m2.close();
  await f.assertClean();
});
