/**
 * crun's compiled seccomp filters are reused (pkg/oci/seccomp-bpf-cache.ts): the first container with a profile
 * is compiled by crun, whose filter the daemon keeps; the next one with the same profile gets that filter in
 * crun's `run.oci.seccomp_bpf_data` annotation and runs under the very same program, which ExecSync's processes
 * load too. A different profile is compiled again. Runs under the daemon's default runtime, crun.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { containerConfig, finishPodEnv, type PodEnv, podConfig, startPodEnv } from './pod-fixture.js';

const ANNOTATION = 'run.oci.seccomp_bpf_data';

describe('seccomp filter reuse under crun (e2e)', () => {
  let env: PodEnv;
  let ok = false;
  before(async () => {
    env = await startPodEnv();
  });
  after(() => finishPodEnv(env, ok));

  it('compiles a profile once and runs later containers under the same filter', async () => {
    const crunRoot = path.join(env.d.runtimeDir, 'mesos', 'crun');
    const config = podConfig(env);
    const { podSandboxId } = await env.c.runtime.runPodSandbox({ config, runtimeHandler: '' });
    const bundleConfig = async (id: string) =>
      JSON.parse(
        await fs.readFile(
          path.join(env.d.runtimeDir, 'mesos', 'pods', podSandboxId, 'containers', id, 'config.json'),
          'utf8',
        ),
      ) as { annotations?: Record<string, string> };
    const start = async (name: string, seccompProfilePath: string) => {
      const { containerId } = await env.c.runtime.createContainer({
        podSandboxId,
        config: containerConfig(env, name, 'sleep 1000', {
          linux: {
            securityContext: { seccompProfilePath, namespaceOptions: { network: 0, pid: 1, ipc: 0 } } as never,
            resources: undefined,
          },
        }),
        sandboxConfig: config,
      });
      await env.c.runtime.startContainer({ containerId });
      return containerId;
    };
    const seccompOf = async (id: string) => {
      const r = await env.c.runtime.execSync({ containerId: id, cmd: ['cat', '/proc/self/status'], timeout: 10n });
      return Buffer.from(r.stdout)
        .toString()
        .match(/^Seccomp:\s*(\d)/m)?.[1];
    };

    const first = await start('first', 'runtime/default');
    assert.equal((await bundleConfig(first)).annotations?.[ANNOTATION], undefined, 'the first one is compiled');
    const second = await start('second', 'runtime/default');
    const given = (await bundleConfig(second)).annotations?.[ANNOTATION];
    assert.ok(given, 'the second one gets the compiled filter');
    const filter = await fs.readFile(path.join(crunRoot, first, 'seccomp.bpf'));
    assert.ok(filter.length > 0);
    assert.deepEqual(Buffer.from(given, 'base64'), filter, 'exactly what crun compiled for the first');
    assert.deepEqual(await fs.readFile(path.join(crunRoot, second, 'seccomp.bpf')), filter);
    // Both run filtered (mode 2), and so do processes exec'd into them.
    assert.equal(await seccompOf(first), '2');
    assert.equal(await seccompOf(second), '2');

    // Another profile is another filter: compiled, not given the first one's.
    const profile = path.join(env.d.root, 'deny-mkdir.json');
    await fs.writeFile(
      profile,
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
      }),
    );
    const other = await start('other', `localhost/${profile}`);
    assert.equal((await bundleConfig(other)).annotations?.[ANNOTATION], undefined);
    assert.notDeepEqual(await fs.readFile(path.join(crunRoot, other, 'seccomp.bpf')), filter);
    const r = await env.c.runtime.execSync({ containerId: other, cmd: ['mkdir', '/tmp/x'], timeout: 10n });
    assert.notEqual(r.exitCode, 0, 'the other profile is the one applied');
    const again = await start('again', `localhost/${profile}`);
    assert.ok((await bundleConfig(again)).annotations?.[ANNOTATION]);
    const r2 = await env.c.runtime.execSync({ containerId: again, cmd: ['mkdir', '/tmp/x'], timeout: 10n });
    assert.notEqual(r2.exitCode, 0);
    ok = true;
  });
});
