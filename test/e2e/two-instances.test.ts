/**
 * Two ucri instances on one host (issue 12 item 4): a second daemon over the same cgroups root is refused at
 * start (its orphan sweep would destroy the first one's pod cgroups); one with its own socket, dirs and
 * cgroups root runs beside the first, on the same CNI network, and its start-up recovery (after a SIGKILL)
 * leaves the first one's pods, cgroups, processes and addresses alone.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ContainerState, PodSandboxState } from '../support/cri-client.js';
import { startDaemon, type TestDaemon } from '../support/daemon.js';
import { finishPodEnv, type PodEnv, podConfig, podWithContainer, startPodEnv, status } from './pod-fixture.js';

async function podCgroupExists(cgroupsRoot: string, podId: string): Promise<boolean> {
  return existsSync(path.join('/sys/fs/cgroup/memory', cgroupsRoot, podId));
}

describe('two instances on one host (e2e)', () => {
  let env: PodEnv;
  let other: TestDaemon | undefined;
  let ok = false;
  before(async () => {
    env = await startPodEnv();
  });
  after(async () => {
    if (other) {
      await other.stop();
      await other.cleanup();
    }
    for (const ctl of await fs.readdir('/sys/fs/cgroup').catch(() => [])) {
      await fs.rmdir(path.join('/sys/fs/cgroup', ctl, `${env.cgroupsRoot}-b`)).catch(() => undefined);
    }
    await finishPodEnv(env, ok);
  });

  it('a second daemon never touches the first one’s pods, cgroups or network', async () => {
    const first = await podWithContainer(env, 'sleep 600');
    assert.ok(await podCgroupExists(env.cgroupsRoot, first.podSandboxId));

    // Same cgroups root, own socket and dirs: refused, with the reason.
    await assert.rejects(startDaemon({ flags: [`--cgroups_root=${env.cgroupsRoot}`] }), (e: Error) =>
      /cgroups_root .* is in use by another ucri/.test(e.message),
    );
    assert.ok(await podCgroupExists(env.cgroupsRoot, first.podSandboxId), 'the refused daemon swept nothing');

    // Own cgroups root, the same CNI network: it runs a pod of its own, crashes and recovers.
    other = await startDaemon({ flags: [`--cgroups_root=${env.cgroupsRoot}-b`] });
    const conflist = await fs.readFile(path.join(env.d.cniConfigDir, '10-e2e.conflist'), 'utf8');
    await fs.writeFile(path.join(other.cniConfigDir, '10-e2e.conflist'), conflist);
    const c = other.client();
    const mine = await c.runtime.runPodSandbox({ config: podConfig(env, 'other-pod'), runtimeHandler: '' });
    const root = other.root;
    await other.kill9();
    other = await startDaemon({ root, flags: [`--cgroups_root=${env.cgroupsRoot}-b`] });

    // The first daemon's pod is untouched: ready, same address, its container still running.
    const pod = await env.c.runtime.podSandboxStatus({ podSandboxId: first.podSandboxId, verbose: false });
    assert.equal(pod.status?.state, PodSandboxState.SANDBOX_READY);
    assert.notEqual(pod.status?.network?.ip ?? '', '');
    assert.equal((await status(env, first.containerId)).status?.state, ContainerState.CONTAINER_RUNNING);
    assert.ok(await podCgroupExists(env.cgroupsRoot, first.podSandboxId), 'the other daemon swept our cgroup');

    const c2 = other.client();
    await c2.runtime.stopPodSandbox({ podSandboxId: mine.podSandboxId });
    await c2.runtime.removePodSandbox({ podSandboxId: mine.podSandboxId });
    await other.stop();
    await other.cleanup();
    other = undefined;
    assert.equal((await status(env, first.containerId)).status?.state, ContainerState.CONTAINER_RUNNING);
    ok = true;
  });
});
