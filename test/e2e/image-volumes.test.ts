/**
 * Image volumes (KEP-4639, isolator volume/image) over the socket: a mount whose `image` is set shows that
 * image's root filesystem (its four layers merged, whiteouts applied) read-only in the container, or only
 * `image_sub_path` of it; ContainerStatus reports the mount; an image that is not in the store is NOT_FOUND
 * and a bad sub path INVALID_ARGUMENT, leaving nothing behind; the image is leased while mounted (a
 * RemoveImage drops its name, the layers stay until the container is removed).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ContainerConfig, grpc, type Mount, statusOf } from '../support/cri-client.js';
import { fixtureImages, type FixtureImage } from '../support/images.js';
import {
  containerConfig,
  eventually,
  finishPodEnv,
  type PodEnv,
  podConfig,
  startPodEnv,
  status,
} from './pod-fixture.js';

function imageMount(containerPath: string, image: string, imageSubPath = ''): Mount {
  return {
    containerPath,
    hostPath: '',
    readonly: true,
    selinuxRelabel: false,
    propagation: 0,
    uidMappings: [],
    gidMappings: [],
    recursiveReadOnly: false,
    image: { image, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
    imageSubPath,
    mountOptions: [],
  };
}

describe('image volumes (e2e)', () => {
  let env: PodEnv;
  let layers: FixtureImage;
  let ok = true;
  before(async () => {
    env = await startPodEnv();
    layers = (await fixtureImages(env.registry))['busybox-layers'];
    await env.c.image.pullImage({
      image: { image: layers.ref, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
      auth: undefined,
      sandboxConfig: undefined,
    });
  });
  after(() => finishPodEnv(env, ok));

  const exec = async (containerId: string, script: string) => {
    const r = await env.c.runtime.execSync({ containerId, cmd: ['sh', '-c', script], timeout: 20n });
    return { code: r.exitCode, out: Buffer.from(r.stdout).toString().trim(), err: Buffer.from(r.stderr).toString() };
  };

  const create = async (podSandboxId: string, name: string, mounts: Mount[]) => {
    const over: Partial<ContainerConfig> = { mounts };
    return env.c.runtime.createContainer({
      podSandboxId,
      config: containerConfig(env, name, 'sleep 1000', over),
      sandboxConfig: podConfig(env),
    });
  };

  it('mounts the image rootfs read-only, with sub paths, and leases the image while mounted', async (t) => {
    ok = false;
    const config = podConfig(env);
    const { podSandboxId } = await env.c.runtime.runPodSandbox({ config, runtimeHandler: '' });
    const { containerId } = await create(podSandboxId, 'vol', [
      imageMount('/vol', layers.ref),
      imageMount('/sub', layers.ref, 'data/opaque'),
      // An absolute symlink inside the image resolves inside the image, not on the host.
      imageMount('/keep.txt', layers.ref, 'data/link-abs'),
    ]);
    await env.c.runtime.startContainer({ containerId });

    await t.test('contents: the layers merged, whiteouts applied', async () => {
      assert.deepEqual(
        await exec(
          containerId,
          'cat /vol/data/replaced.txt /vol/data/layer4.txt >/dev/null; cat /vol/data/replaced.txt',
        ),
        {
          code: 0,
          out: 'v2',
          err: '',
        },
      );
      assert.equal((await exec(containerId, 'test -e /vol/data/remove-me.txt')).code, 1, 'whited-out file visible');
      assert.equal((await exec(containerId, 'ls /sub')).out, 'new.txt', 'sub path is the opaque dir');
      assert.equal((await exec(containerId, 'cat /keep.txt')).out, 'kept');
    });

    await t.test('read-only', async () => {
      for (const p of ['/vol/new-file', '/vol/data/keep.txt', '/sub/new.txt']) {
        const r = await exec(containerId, `echo x >> ${p}`);
        assert.notEqual(r.code, 0, `${p} is writable`);
        assert.match(r.err, /Read-only file system/);
      }
    });

    await t.test('reported in ContainerStatus', async () => {
      const mounts = (await status(env, containerId)).status!.mounts;
      const vol = mounts.find((m) => m.containerPath === '/vol');
      assert.equal(vol?.image?.image, layers.ref);
      assert.equal(vol?.image?.imageRef, layers.configDigest);
      assert.equal(vol?.readonly, true);
      assert.equal(mounts.find((m) => m.containerPath === '/sub')?.imageSubPath, 'data/opaque');
    });

    await t.test('leased: RemoveImage drops the name, the layers stay until the container goes', async () => {
      const top = layers.layers.at(-1)!.diffId.replace(/^sha256:/, '');
      const layerDir = path.join(env.d.workDir, 'store', 'docker', 'layers', top);
      assert.ok(existsSync(layerDir), `layer dir ${layerDir} missing before the removal`);
      await env.c.image.removeImage({
        image: { image: layers.ref, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
      });
      const left = await env.c.image.imageStatus({
        image: { image: layers.ref, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
        verbose: false,
      });
      assert.equal(left.image, undefined, 'the image keeps its name');
      assert.equal((await exec(containerId, 'cat /vol/data/layer4.txt >/dev/null')).code, 0, 'volume unreadable');
      assert.ok(existsSync(layerDir), 'layers of a mounted image were collected');
      await env.c.runtime.stopContainer({ containerId, timeout: 0n });
      await env.c.runtime.removeContainer({ containerId });
      // Released in the background once RemoveContainer has answered.
      await eventually(() => !existsSync(layerDir), 'layers stay after the last volume went');
    });
    await env.c.runtime.stopPodSandbox({ podSandboxId });
    await env.c.runtime.removePodSandbox({ podSandboxId });
    ok = true;
  });

  it('keeps volume and lease across a daemon crash; removal after the restart releases both', async () => {
    ok = false;
    const spec = { image: layers.ref, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' };
    await env.c.image.pullImage({ image: spec, auth: undefined, sandboxConfig: undefined });
    const config = podConfig(env);
    const { podSandboxId } = await env.c.runtime.runPodSandbox({ config, runtimeHandler: '' });
    const { containerId } = await create(podSandboxId, 'restart', [imageMount('/vol', layers.ref, 'data')]);
    await env.c.runtime.startContainer({ containerId });
    await env.d.kill9();
    await env.restart();
    assert.equal((await exec(containerId, 'cat /vol/replaced.txt')).out, 'v2');
    const top = layers.layers.at(-1)!.diffId.replace(/^sha256:/, '');
    const layerDir = path.join(env.d.workDir, 'store', 'docker', 'layers', top);
    await env.c.image.removeImage({ image: spec });
    assert.ok(existsSync(layerDir), 'the lease did not survive the restart');
    await env.c.runtime.removeContainer({ containerId });
    await eventually(() => !existsSync(layerDir), 'the lease outlived the container');
    await env.c.runtime.stopPodSandbox({ podSandboxId });
    await env.c.runtime.removePodSandbox({ podSandboxId });
    ok = true;
  });

  it('refuses an image that is not in the store (NOT_FOUND) and bad sub paths (INVALID_ARGUMENT)', async () => {
    ok = false;
    const config = podConfig(env);
    const { podSandboxId } = await env.c.runtime.runPodSandbox({ config, runtimeHandler: '' });
    const absent = `${env.registry.host}/e2e-test-images/busybox-env:latest`;
    await assert.rejects(create(podSandboxId, 'absent', [imageMount('/vol', absent)]), (e: unknown) => {
      assert.equal(statusOf(e), grpc.status.NOT_FOUND);
      return true;
    });
    for (const [sub, what] of [
      ['../etc', 'must not contain'],
      ['/data', 'must be relative'],
      ['data/missing', 'does not exist'],
      ['bin/busybox/x', 'does not exist'],
    ] as const) {
      await assert.rejects(create(podSandboxId, 'bad', [imageMount('/vol', env.image, sub)]), (e: unknown) => {
        assert.equal(statusOf(e), grpc.status.INVALID_ARGUMENT, sub);
        assert.match(String((e as Error).message), new RegExp(what));
        return true;
      });
    }
    await assert.rejects(
      create(podSandboxId, 'both', [{ ...imageMount('/vol', env.image), hostPath: '/tmp' }]),
      (e: unknown) => statusOf(e) === grpc.status.INVALID_ARGUMENT,
    );
    const { containers } = await env.c.runtime.listContainers({ filter: undefined });
    assert.deepEqual(
      containers.filter((c) => c.podSandboxId === podSandboxId),
      [],
      'a refused container was left',
    );
    await env.c.runtime.stopPodSandbox({ podSandboxId });
    await env.c.runtime.removePodSandbox({ podSandboxId });
    ok = true;
  });
});
