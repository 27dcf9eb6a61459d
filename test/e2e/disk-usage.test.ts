/**
 * Writable layers over the socket with real containers: `--container_store_dir` holds them apart from the
 * image layers, ImageFsInfo reports the two filesystems separately, ContainerStats reports the layer's bytes
 * and inodes as the background disk/du watcher measured them, and a container writing past its disk limit
 * (pod annotation io.ucri.disk-limit) is stopped with reason DiskLimitExceeded while one below it runs on.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ContainerState, grpc, statusOf } from '../support/cri-client.js';
import {
  containerConfig,
  eventually,
  finishPodEnv,
  type PodEnv,
  podConfig,
  podWithContainer,
  startPodEnv,
  status,
  waitForState,
} from './pod-fixture.js';

const MiB = 1 << 20;

describe('writable layers: container store, disk usage and limits (e2e)', () => {
  let env: PodEnv;
  let store: string;
  let ok = false;
  before(async () => {
    store = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-e2e-cstore-'));
    env = await startPodEnv([`--container_store_dir=${store}`, '--container_disk_watch_interval=200ms']);
  });
  after(async () => {
    await finishPodEnv(env, ok);
    if (ok) assert.deepEqual(await fs.readdir(store), [], 'every writable layer went with its container');
    await fs.rm(store, { recursive: true, force: true });
  });

  /** Runs `sh -c script` in the container until it succeeds (the container marks what it has done). */
  async function untilInContainer(containerId: string, test: string): Promise<void> {
    const script = `until ${test}; do sleep 0.05; done`;
    const r = await env.c.runtime.execSync({ containerId, cmd: ['sh', '-c', script], timeout: 60n });
    assert.equal(r.exitCode, 0);
  }

  /**
   * ContainerStats once the watcher has measured at least `bytes` (and `inodes`) in the writable layer. Both
   * are waited for: a pass may have walked the layer between two of the container's writes (its big file
   * written, the files after it not yet), and the stats answer from the last pass.
   */
  async function measuredAtLeast(containerId: string, bytes: number, inodes = 0) {
    const until = Date.now() + 60_000; // a guard against hanging, not a measure
    for (;;) {
      const { stats } = await env.c.runtime.containerStats({ containerId });
      const layer = stats?.writableLayer;
      if (Number(layer?.usedBytes?.value ?? 0n) >= bytes && Number(layer?.inodesUsed?.value ?? 0n) >= inodes) {
        return stats!;
      }
      if (Date.now() > until) {
        assert.fail(
          `writable layer of ${containerId} never measured ${bytes} bytes and ${inodes} inodes: last ` +
            `${layer?.usedBytes?.value} bytes, ${layer?.inodesUsed?.value} inodes`,
        );
      }
      await sleep(100);
    }
  }

  it('keeps writable layers in --container_store_dir and reports them apart in ImageFsInfo', async () => {
    const { containerId } = await podWithContainer(
      env,
      'dd if=/dev/zero of=/big bs=1M count=3 && mkdir /many && touch /many/a /many/b /written; sleep 1000',
    );
    await untilInContainer(containerId, '[ -e /written ]');
    const [upper] = await findUpper(store, containerId);
    assert.ok(upper, 'the layer is under the container store');
    assert.equal((await fs.stat(path.join(upper, 'big'))).size, 3 * MiB);
    await assert.rejects(fs.access(path.join(env.d.workDir, 'provisioner', 'containers', containerId)));

    // Dirs and files are counted as inodes: big, many, many/a, many/b, written.
    const stats = await measuredAtLeast(containerId, 3 * MiB, 5);
    assert.equal(stats.writableLayer?.fsId?.mountpoint, upper);

    const info = await env.c.image.imageFsInfo({});
    assert.equal(info.imageFilesystems.length, 1);
    assert.ok(info.imageFilesystems[0]!.fsId!.mountpoint.startsWith(env.d.workDir));
    assert.ok(Number(info.imageFilesystems[0]!.usedBytes!.value) > 0);
    assert.equal(info.containerFilesystems.length, 1);
    const cfs = info.containerFilesystems[0]!;
    assert.equal(cfs.fsId?.mountpoint, store);
    assert.ok(Number(cfs.usedBytes?.value) >= 3 * MiB, `container fs used ${cfs.usedBytes?.value}`);
    assert.ok(Number(cfs.inodesUsed?.value) >= 5);
  });

  it('stops a container past its disk limit with DiskLimitExceeded; one below the limit runs on', async () => {
    const config = podConfig(env);
    config.annotations = { 'io.ucri.disk-limit': '4Mi' };
    const { podSandboxId } = await env.c.runtime.runPodSandbox({ config, runtimeHandler: '' });
    const start = async (name: string, script: string): Promise<string> => {
      const { containerId } = await env.c.runtime.createContainer({
        podSandboxId,
        config: containerConfig(env, name, script),
        sandboxConfig: config,
      });
      await env.c.runtime.startContainer({ containerId });
      return containerId;
    };
    const below = await start('below', 'dd if=/dev/zero of=/small bs=1M count=2 && touch /written; sleep 1000');
    await untilInContainer(below, '[ -e /written ]');
    await measuredAtLeast(below, 2 * MiB);

    const above = await start('above', 'dd if=/dev/zero of=/big bs=1M count=8; sleep 1000');
    await waitForState(env, above, ContainerState.CONTAINER_EXITED);
    const st = (await status(env, above)).status!;
    assert.equal(st.reason, 'DiskLimitExceeded');
    assert.equal(st.exitCode, 137);
    assert.match(st.message, /more than the disk limit of 4194304 bytes/);

    // The watcher measured `below` in the same passes that found `above` over the limit.
    const b = (await status(env, below)).status!;
    assert.equal(b.state, ContainerState.CONTAINER_RUNNING);
    assert.equal(b.reason, '');
  });

  it('recovers writable layers from the container store after a restart and removes orphans there', async () => {
    const { podSandboxId, containerId } = await podWithContainer(
      env,
      'dd if=/dev/zero of=/big bs=1M count=1 && touch /written; sleep 1000',
    );
    await untilInContainer(containerId, '[ -e /written ]');
    const orphan = path.join(store, 'orphan-without-record');
    await fs.mkdir(path.join(orphan, 'backends'), { recursive: true });
    await env.d.stop();
    await env.restart();
    await assert.rejects(fs.access(orphan), 'a store dir without a record is removed at recovery');
    assert.equal((await status(env, containerId)).status?.state, ContainerState.CONTAINER_RUNNING);
    await measuredAtLeast(containerId, MiB);
    const r = await env.c.runtime.execSync({ containerId, cmd: ['cat', '/written'], timeout: 30n });
    assert.equal(r.exitCode, 0, 'the rootfs is the same after the restart');
    await env.c.runtime.stopPodSandbox({ podSandboxId });
    await env.c.runtime.removePodSandbox({ podSandboxId });
    // Released in the background once RemovePodSandbox has answered.
    await eventually(
      () =>
        fs.access(path.join(store, containerId)).then(
          () => false,
          () => true,
        ),
      'removal empties the store',
    );
  });

  it('refuses a malformed io.ucri.disk-limit before making anything', async () => {
    const config = podConfig(env);
    config.annotations = { 'io.ucri.disk-limit': 'lots' };
    await assert.rejects(
      env.c.runtime.runPodSandbox({ config, runtimeHandler: '' }),
      (e) => statusOf(e) === grpc.status.INVALID_ARGUMENT && /io\.ucri\.disk-limit/.test(String(e)),
    );
    ok = true;
  });
});

/** The overlay upper dirs of `containerId` under the container store. */
async function findUpper(store: string, containerId: string): Promise<string[]> {
  const scratch = path.join(store, containerId, 'backends', 'overlay', 'scratch');
  return (await fs.readdir(scratch)).map((r) => path.join(scratch, r, 'upper'));
}
