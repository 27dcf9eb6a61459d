/**
 * The OCI runtime is chosen per daemon (`oci_runtime`: auto, the default, takes crun where it is installed; the
 * other e2e files run under it). Here the daemon is told to use runc: its containers live in runc's own state
 * root, and a daemon restarted over the same root with crun refuses to start while runc's containers are there
 * (crun could neither recover, stop nor delete them), and says why; with runc again it recovers them.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ContainerState } from '../support/cri-client.js';
import { finishPodEnv, type PodEnv, podWithContainer, startPodEnv, status } from './pod-fixture.js';

describe('OCI runtime choice (e2e)', () => {
  let env: PodEnv;
  let ok = false;
  before(async () => {
    env = await startPodEnv(['--oci_runtime=runc']);
  });
  after(() => finishPodEnv(env, ok));

  it('runs containers under runc when asked, and will not switch to crun over them', async () => {
    const { containerId } = await podWithContainer(env, 'sleep 1000');
    const mesos = path.join(env.d.runtimeDir, 'mesos');
    assert.ok(existsSync(path.join(mesos, 'runc', containerId, 'state.json')), "runc's state file");
    assert.equal(existsSync(path.join(mesos, 'crun', containerId)), false);
    const r = await env.c.runtime.execSync({ containerId, cmd: ['echo', 'hi'], timeout: 30n });
    assert.equal(Buffer.from(r.stdout).toString(), 'hi\n');

    await env.d.kill9();
    await assert.rejects(env.restart(['--oci_runtime=crun']), /holds 1 container\(s\) of runc/);
    await env.restart(['--oci_runtime=runc']);
    assert.equal((await status(env, containerId)).status?.state, ContainerState.CONTAINER_RUNNING);
    ok = true;
  });
});
