/**
 * Restart safety over the socket: ucri is killed with SIGKILL while containers run; one of them exits while
 * ucri is down. The restarted daemon (same root) reports the running one still RUNNING with the same pid
 * (its process never stopped) and the other EXITED with its exit code; exits after the restart are seen too
 * (the exit watchers are re-armed).
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ContainerState } from '../support/cri-client.js';
import { finishPodEnv, type PodEnv, podWithContainer, startPodEnv, status, waitForState } from './pod-fixture.js';

/** The process start time of `pid` (field 22 of /proc/PID/stat), to tell a pid from a reused one. */
function startTime(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

/** Waits until process `pid` is gone (the kernel offers no exit notification for a non-child). */
async function gone(pid: number): Promise<void> {
  for (let i = 0; i < 1200 && existsSync(`/proc/${pid}`); i++) await sleep(50);
  assert.ok(!existsSync(`/proc/${pid}`), `process ${pid} did not exit`);
}

async function pidOf(env: PodEnv, id: string): Promise<number> {
  return JSON.parse((await status(env, id)).info.info ?? '{}').pid as number;
}

describe('restart (e2e)', () => {
  let env: PodEnv;
  let ok = false;
  before(async () => {
    env = await startPodEnv();
  });
  after(() => finishPodEnv(env, ok));

  it('finds running containers still running and exits that happened while it was down', async () => {
    const triggers = path.join(env.d.root, 'triggers');
    await fs.mkdir(triggers);
    const mounts = [{ containerPath: '/trigger', hostPath: triggers }] as never;
    const wait = (name: string, code: number) => `while [ ! -e /trigger/${name} ]; do sleep 0.1; done; exit ${code}`;
    const long = await podWithContainer(env, wait('later', 5), undefined, { mounts });
    const short = await podWithContainer(env, wait('now', 42), undefined, { mounts });
    const longPid = await pidOf(env, long.containerId);
    const shortPid = await pidOf(env, short.containerId);
    assert.ok(longPid > 0 && shortPid > 0);
    const started = startTime(longPid);
    const startedAt = (await status(env, long.containerId)).status?.startedAt;

    await env.d.kill9();
    await fs.writeFile(path.join(triggers, 'now'), '');
    await gone(shortPid);
    await env.restart();

    const now = await status(env, long.containerId);
    assert.equal(now.status?.state, ContainerState.CONTAINER_RUNNING);
    assert.equal(await pidOf(env, long.containerId), longPid);
    assert.equal(startTime(longPid), started, 'the very same process');
    assert.equal(now.status?.startedAt, startedAt);

    const exited = (await status(env, short.containerId)).status!;
    assert.equal(exited.state, ContainerState.CONTAINER_EXITED);
    assert.equal(exited.exitCode, 42);

    const pod = await env.c.runtime.podSandboxStatus({ podSandboxId: long.podSandboxId, verbose: false });
    assert.notEqual(pod.status?.network?.ip, '');

    // The exit watcher of the recovered container is armed again.
    await fs.writeFile(path.join(triggers, 'later'), '');
    await waitForState(env, long.containerId, ContainerState.CONTAINER_EXITED);
    assert.equal((await status(env, long.containerId)).status?.exitCode, 5);
    ok = true;
  });
});
