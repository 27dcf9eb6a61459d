/**
 * Requests at the edge of what the CRI allows, against real containers: ExecSync timeouts up to int64 (clamped,
 * never overflowing in conmon), `unified` cgroup settings that cannot apply (a cgroup v1 host) or name a path
 * instead of a cgroup file (refused by UpdateContainerResources as by CreateContainer, nothing recorded), the
 * deprecated seccomp_profile_path (a bare path refused in containers and pods, the named profiles and
 * localhost/<path> run), and a streaming RPC ucri does not implement answering at once.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { detectCgroups } from '../../pkg/sys/index.js';
import { grpc, RunPodSandboxRequest, statusOf } from '../support/cri-client.js';
import {
  containerConfig,
  finishPodEnv,
  type PodEnv,
  podConfig,
  podWithContainer,
  startPodEnv,
  status,
} from './pod-fixture.js';
import { unifiedOnlyResources } from '../support/specs.js';

const invalid = (e: unknown): boolean => statusOf(e) === grpc.status.INVALID_ARGUMENT;

describe('requests at the edge (e2e)', () => {
  let env: PodEnv;
  let ok = false;
  before(async () => {
    env = await startPodEnv();
  });
  after(() => finishPodEnv(env, ok));

  it('runs ExecSync with timeouts up to the int64 maximum', async () => {
    const { containerId } = await podWithContainer(env, 'sleep 1000');
    for (const timeout of [2n ** 31n, 2n ** 32n + 5n, 2n ** 63n - 1n]) {
      const r = await env.c.runtime.execSync({ containerId, cmd: ['echo', 'ran'], timeout });
      assert.equal(r.exitCode, 0, `timeout ${timeout}`);
      assert.equal(r.stdout.toString(), 'ran\n');
    }
  });

  it('refuses unified settings that cannot apply or are not cgroup files, and records nothing', async () => {
    const { containerId } = await podWithContainer(env, 'sleep 1000');
    const update = (unified: Record<string, string>) =>
      env.c.runtime.updateContainerResources({
        containerId,
        linux: unifiedOnlyResources(unified),
        windows: undefined,
        annotations: {},
      });
    for (const key of ['../../cgroup.procs', 'cgroup.procs', 'memory/../../x', '']) {
      await assert.rejects(update({ [key]: '1' }), (e: unknown) => invalid(e) && /unified/.test((e as Error).message));
    }
    if ((await detectCgroups()).mode !== 'v2') {
      await assert.rejects(update({ 'memory.high': '100M' }), (e: unknown) => {
        assert.ok(invalid(e), String(e));
        assert.match((e as Error).message, /cgroup v2/);
        return true;
      });
    }
    const st = (await status(env, containerId)).status!;
    assert.deepEqual(st.resources?.linux?.unified ?? {}, {});
    // CreateContainer refuses a path key at the edge too.
    const config = podConfig(env);
    const { podSandboxId } = await env.c.runtime.runPodSandbox({ config, runtimeHandler: '' });
    const bad = containerConfig(env, 'bad-unified', 'true', {
      linux: {
        resources: unifiedOnlyResources({ '../../cgroup.procs': '1' }),
        securityContext: undefined,
      },
    });
    await assert.rejects(env.c.runtime.createContainer({ podSandboxId, config: bad, sandboxConfig: config }), invalid);
  });

  it('refuses a seccomp_profile_path without localhost/ in containers and pods; runs the named ones', async () => {
    const profile = path.join(env.d.root, 'allow-all.json');
    await fs.writeFile(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW' }));
    const secured = (seccompProfilePath: string) =>
      ({
        seccompProfilePath,
        namespaceOptions: { network: 0, pid: 1, ipc: 0, targetId: '' },
      }) as never;

    const badPod = RunPodSandboxRequest.fromPartial({
      config: { ...podConfig(env), linux: { securityContext: secured(profile) } },
    }).config!;
    await assert.rejects(env.c.runtime.runPodSandbox({ config: badPod, runtimeHandler: '' }), (e: unknown) => {
      assert.ok(invalid(e), String(e));
      assert.match((e as Error).message, /seccompProfilePath/);
      return true;
    });

    const config = podConfig(env);
    const { podSandboxId } = await env.c.runtime.runPodSandbox({ config, runtimeHandler: '' });
    const create = (name: string, seccomp: string) =>
      env.c.runtime.createContainer({
        podSandboxId,
        config: containerConfig(env, name, 'sleep 1000', {
          linux: { securityContext: secured(seccomp), resources: undefined },
        }),
        sandboxConfig: config,
      });
    for (const bare of [profile, 'my-profile.json', 'localhost/relative.json']) {
      await assert.rejects(create(`bare-${bare.length}`, bare), (e: unknown) => {
        assert.ok(invalid(e), `${bare}: ${String(e)}`);
        assert.match((e as Error).message, /seccompProfilePath/);
        return true;
      });
    }
    for (const [name, seccomp] of [
      ['rt', 'runtime/default'],
      ['docker', 'docker/default'],
      ['unconfined', 'unconfined'],
      ['local', `localhost/${profile}`],
    ] as const) {
      const { containerId } = await create(name, seccomp);
      await env.c.runtime.startContainer({ containerId });
      const r = await env.c.runtime.execSync({ containerId, cmd: ['true'], timeout: 10n });
      assert.equal(r.exitCode, 0, seccomp);
    }
  });

  it('answers a streaming RPC ucri does not implement at once', async (t) => {
    // Whichever Stream* RPC is still unimplemented; once all are, the generic path is covered by the unit test.
    const raw = env.c.rawRuntime as unknown as Record<
      string,
      ((req: object, opts: object) => grpc.ClientReadableStream<unknown>) | undefined
    >;
    const names = ['streamContainers', 'streamPodSandboxes', 'streamContainerStats', 'streamPodSandboxStats'];
    for (const name of names) {
      const fn = raw[name];
      if (!fn) continue;
      const call = fn.call(env.c.rawRuntime, {}, { deadline: Date.now() + 30_000 });
      const code = await new Promise<number | undefined>((resolve) => {
        call.on('data', () => undefined);
        call.on('error', (e: unknown) => resolve(statusOf(e)));
        call.on('end', () => resolve(grpc.status.OK));
      });
      if (code === grpc.status.UNIMPLEMENTED) {
        t.diagnostic(`${name}: UNIMPLEMENTED`);
        ok = true;
        return;
      }
      assert.notEqual(code, grpc.status.DEADLINE_EXCEEDED, `${name} hung until the deadline`);
    }
    t.diagnostic('every Stream* RPC is implemented');
    ok = true;
  });
});
