/**
 * CheckpointContainer and restore through CreateContainer, over the socket. The main case checkpoints a
 * counter (a shell loop whose random token lives only in its memory), restores the archive into a new pod
 * and expects the same token with a higher count: the process came back with its memory. Where the host's
 * CRIU cannot checkpoint (CRIU 3.17 on kernels with the `[vvar_vclock]` mapping), CheckpointContainer must
 * answer FAILED_PRECONDITION naming what CRIU reported, leave the container running and no archive, and the
 * case is SKIPPED with CRIU's message, never passed. Archive validation, unknown and stopped containers are
 * tested on any host. These run under runc (`--oci_runtime=runc`), which drives CRIU on this host; crun, the
 * default runtime, is checked apart: Debian's is built without checkpoint support, which must be said as such.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { ContainerState, grpc, statusOf } from '../support/cri-client.js';
import {
  containerConfig,
  finishPodEnv,
  type PodEnv,
  podConfig,
  podWithContainer,
  startPodEnv,
  status,
  waitForState,
} from './pod-fixture.js';

const run = promisify(execFile);

const COUNTER =
  't=$(head -c8 /dev/urandom | od -An -tx1 | tr -d " \\n"); i=0; ' +
  'while :; do i=$((i+1)); echo "$t $i" > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.2; done';

describe('CheckpointContainer and restore (e2e)', () => {
  let env: PodEnv;
  let ok = true;
  let dir: string;
  before(async () => {
    env = await startPodEnv(['--oci_runtime=runc']);
    dir = path.join(env.d.root, 'checkpoints');
    await fs.mkdir(dir, { recursive: true });
  });
  after(() => finishPodEnv(env, ok));

  const readCount = async (containerId: string): Promise<{ token: string; n: number }> => {
    // The first write may not have happened yet: wait for the file through the container itself.
    const r = await env.c.runtime.execSync({
      containerId,
      cmd: ['sh', '-c', 'while [ ! -s /tmp/count ]; do sleep 0.1; done; cat /tmp/count'],
      timeout: 30n,
    });
    const [token, n] = Buffer.from(r.stdout).toString().trim().split(' ');
    return { token: token ?? '', n: Number(n) };
  };

  /** Waits (through the container) until its count passes `n`; returns the new reading. */
  const countAfter = async (containerId: string, n: number) => {
    const r = await env.c.runtime.execSync({
      containerId,
      cmd: ['sh', '-c', `while [ "$(cut -d' ' -f2 /tmp/count)" -le ${n} ]; do sleep 0.1; done; cat /tmp/count`],
      timeout: 30n,
    });
    const [token, m] = Buffer.from(r.stdout).toString().trim().split(' ');
    return { token: token ?? '', n: Number(m) };
  };

  it('checkpoints a counter and restores it where it was (or fails with what CRIU reported)', async (t) => {
    ok = false;
    const { containerId } = await podWithContainer(env, COUNTER);
    const before = await readCount(containerId);
    assert.match(before.token, /^[0-9a-f]{16}$/);
    const location = path.join(dir, 'checkpoint-counter_e2e-main-2026-12-05T05:30:00Z.tar');
    let refused: unknown;
    try {
      await env.c.runtime.checkpointContainer({ containerId, location, timeout: 0n });
    } catch (err) {
      refused = err;
    }
    if (refused !== undefined) {
      assert.equal(statusOf(refused), grpc.status.FAILED_PRECONDITION, String(refused));
      const message = (refused as { details?: string }).details ?? String(refused);
      assert.match(message, /CRIU/);
      // Nothing half-made: no archive, no temp file, the container still counting.
      assert.deepEqual(await fs.readdir(dir), []);
      assert.equal((await status(env, containerId)).status?.state, ContainerState.CONTAINER_RUNNING);
      const later = await countAfter(containerId, before.n);
      assert.equal(later.token, before.token);
      ok = true;
      t.skip(`this host cannot checkpoint: ${message}`);
      return;
    }
    // Left running: the same process keeps counting.
    const kept = await countAfter(containerId, before.n);
    assert.equal(kept.token, before.token);
    assert.ok(existsSync(location), 'no archive written');

    const config = podConfig(env);
    const { podSandboxId } = await env.c.runtime.runPodSandbox({ config, runtimeHandler: '' });
    const restored = await env.c.runtime.createContainer({
      podSandboxId,
      config: containerConfig(env, 'restored', 'echo this command must not run; exit 3', {
        image: { image: location, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
      }),
      sandboxConfig: config,
    });
    await env.c.runtime.startContainer({ containerId: restored.containerId });
    await waitForState(env, restored.containerId, ContainerState.CONTAINER_RUNNING);
    const after = await countAfter(restored.containerId, before.n);
    assert.equal(after.token, before.token, 'the restored process has the memory of the checkpointed one');
    assert.ok(after.n > before.n);
    ok = true;
  });

  it('refuses bad archives (INVALID_ARGUMENT), absent ones and unknown images (NOT_FOUND)', async (t) => {
    ok = false;
    const config = podConfig(env);
    const { podSandboxId } = await env.c.runtime.runPodSandbox({ config, runtimeHandler: '' });
    const create = (image: string) =>
      env.c.runtime.createContainer({
        podSandboxId,
        config: containerConfig(env, 'restore', 'true', {
          image: { image, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
        }),
        sandboxConfig: config,
      });
    const code = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        return statusOf(err);
      }
      return grpc.status.OK;
    };
    const work = path.join(dir, 'bad');
    await fs.mkdir(path.join(work, 'checkpoint'), { recursive: true });
    await fs.writeFile(path.join(work, 'checkpoint', 'inventory.img'), 'not criu');
    await fs.writeFile(path.join(work, 'checkpoint', 'descriptors.json'), '["/dev/null","/dev/null","/dev/null"]');
    await fs.writeFile(path.join(work, 'spec.dump'), '{}');
    const tarOf = async (name: string, ...members: string[]) => {
      const f = path.join(dir, name);
      await run('tar', ['--force-local', '-cf', f, '-C', work, ...members]);
      return f;
    };
    const dump = (image: string) =>
      JSON.stringify({
        version: 1,
        kind: 'ucri-checkpoint',
        containerId: 'x',
        image: { id: image, ref: 'x' },
        spec: {},
      });

    const notTar = path.join(dir, 'not-a-tar');
    await fs.writeFile(notTar, 'hello');
    assert.equal(await code(create(notTar)), grpc.status.INVALID_ARGUMENT, 'not a tar');
    assert.equal(await code(create(dir)), grpc.status.INVALID_ARGUMENT, 'a directory');
    assert.equal(await code(create(path.join(dir, 'absent.tar'))), grpc.status.NOT_FOUND, 'absent');

    await fs.writeFile(path.join(work, 'config.dump'), '{"version":1}');
    assert.equal(
      await code(create(await tarOf('bad-config.tar', 'config.dump', 'spec.dump', 'checkpoint'))),
      grpc.status.INVALID_ARGUMENT,
    );
    await fs.writeFile(path.join(work, 'config.dump'), dump(env.imageId));
    assert.equal(
      await code(create(await tarOf('no-images.tar', 'config.dump', 'spec.dump'))),
      grpc.status.INVALID_ARGUMENT,
      'no CRIU images',
    );
    await fs.symlink('/etc/passwd', path.join(work, 'checkpoint', 'link.img'));
    assert.equal(
      await code(create(await tarOf('symlink.tar', 'config.dump', 'spec.dump', 'checkpoint'))),
      grpc.status.INVALID_ARGUMENT,
      'a symlink among the images',
    );
    await fs.rm(path.join(work, 'checkpoint', 'link.img'));
    await fs.writeFile(path.join(work, 'extra'), 'x');
    assert.equal(
      await code(create(await tarOf('extra.tar', 'config.dump', 'spec.dump', 'checkpoint', 'extra'))),
      grpc.status.INVALID_ARGUMENT,
      'an unexpected member',
    );
    await fs.writeFile(path.join(work, 'config.dump'), dump(`sha256:${'0'.repeat(64)}`));
    assert.equal(
      await code(create(await tarOf('unknown-image.tar', 'config.dump', 'spec.dump', 'checkpoint'))),
      grpc.status.NOT_FOUND,
      'recorded image not in the store',
    );
    let { containers } = await env.c.runtime.listContainers({ filter: undefined });
    assert.deepEqual(
      containers.filter((c) => c.podSandboxId === podSandboxId),
      [],
    );
    // A well-formed archive of a known image whose CRIU images are junk: created (rootfs from the recorded
    // image), then StartContainer's `runc restore` fails with what CRIU reported (the container is then exited,
    // as for any failed start).
    await fs.writeFile(path.join(work, 'config.dump'), dump(env.imageId));
    // Named as kubelet names archives (an RFC 3339 time): colons must not make tar look for a remote host.
    const junk = await tarOf('junk-images-2026-12-05T05:30:00Z.tar', 'config.dump', 'spec.dump', 'checkpoint');
    const { containerId } = await create(junk);
    assert.equal((await status(env, containerId)).status?.imageId, env.imageId);
    await assert.rejects(env.c.runtime.startContainer({ containerId }), (err: unknown) => {
      assert.equal(statusOf(err), grpc.status.FAILED_PRECONDITION, String(err));
      assert.match(String(err), /CRIU could not restore/);
      t.diagnostic(String(err));
      return true;
    });
    assert.equal((await status(env, containerId)).status?.state, ContainerState.CONTAINER_EXITED);
    await env.c.runtime.removeContainer({ containerId });
    ({ containers } = await env.c.runtime.listContainers({ filter: undefined }));
    assert.deepEqual(
      containers.filter((c) => c.podSandboxId === podSandboxId),
      [],
    );
    await env.c.runtime.stopPodSandbox({ podSandboxId });
    await env.c.runtime.removePodSandbox({ podSandboxId });
    ok = true;
  });

  it('CheckpointContainer: NOT_FOUND for unknown containers, FAILED_PRECONDITION for stopped ones', async () => {
    ok = false;
    const location = path.join(dir, 'x.tar');
    const code = async (p: Promise<unknown>) =>
      p.then(
        () => grpc.status.OK,
        (err: unknown) => statusOf(err),
      );
    assert.equal(
      await code(env.c.runtime.checkpointContainer({ containerId: 'f'.repeat(64), location, timeout: 0n })),
      grpc.status.NOT_FOUND,
    );
    const { containerId, podSandboxId } = await podWithContainer(env, 'exit 0');
    await waitForState(env, containerId, ContainerState.CONTAINER_EXITED);
    assert.equal(
      await code(env.c.runtime.checkpointContainer({ containerId, location, timeout: 0n })),
      grpc.status.FAILED_PRECONDITION,
    );
    assert.equal(
      await code(env.c.runtime.checkpointContainer({ containerId, location: 'relative.tar', timeout: 0n })),
      grpc.status.INVALID_ARGUMENT,
    );
    assert.ok(!existsSync(location));
    await env.c.runtime.stopPodSandbox({ podSandboxId });
    await env.c.runtime.removePodSandbox({ podSandboxId });
    ok = true;
  });
});

describe('CheckpointContainer under crun (e2e)', () => {
  let env: PodEnv;
  let ok = false;
  before(async () => {
    env = await startPodEnv();
  });
  after(() => finishPodEnv(env, ok));

  it('names the missing checkpoint support of a crun built without CRIU, and leaves the container running', async () => {
    const { stdout } = await run('crun', ['--version']);
    const withCriu = /\+CRIU\b/.test(stdout);
    const { containerId } = await podWithContainer(env, 'sleep 1000');
    const location = path.join(env.d.root, 'crun-checkpoint.tar');
    const err = await env.c.runtime.checkpointContainer({ containerId, location, timeout: 0n }).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (withCriu) {
      // A crun with CRIU either checkpoints or fails with what CRIU reported.
      if (err !== undefined) assert.match(String(err), /CRIU/);
    } else {
      assert.equal(statusOf(err), grpc.status.FAILED_PRECONDITION, String(err));
      assert.match(String(err), /without checkpoint\/restore \(CRIU\) support; run ucri with oci_runtime = "runc"/);
      assert.equal(existsSync(location), false);
    }
    assert.equal((await status(env, containerId)).status?.state, ContainerState.CONTAINER_RUNNING);
    ok = true;
  });
});
