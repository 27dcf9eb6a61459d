/**
 * Status.runtime_handlers reports what each handler really supports: recursive read-only mounts exactly
 * when the runtime applies `rro` (and then a recursive read-only mount really is read-only below its
 * submounts, where a plain read-only bind is not), user namespaces never (not supported yet).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { MountPropagation } from '../support/cri-client.js';
import { finishPodEnv, type PodEnv, podWithContainer, startPodEnv } from './pod-fixture.js';

const run = promisify(execFile);

/**
 * True when the daemon's runtime applies the `rro` mount option: crun (the default where installed) from
 * 1.8 on, whose `features` subcommand came later; runc when `runc features` lists it.
 */
async function runtimeHasRro(): Promise<boolean> {
  const crun = await run('crun', ['--version']).catch(() => undefined);
  if (crun) {
    const [major = 0, minor = 0] = (crun.stdout.match(/^crun version (\d+)\.(\d+)/m) ?? []).slice(1).map(Number);
    return major > 1 || (major === 1 && minor >= 8);
  }
  const { stdout } = await run('runc', ['features']);
  const f = JSON.parse(stdout) as { mountOptions?: string[] };
  return (f.mountOptions ?? []).includes('rro');
}

describe('runtime handler features (e2e)', () => {
  let env: PodEnv;
  let ok = false;
  let host = '';
  before(async () => {
    env = await startPodEnv();
    // A host dir with a tmpfs mounted below it: a plain read-only bind leaves the tmpfs writable.
    host = mkdtempSync(path.join(os.tmpdir(), 'ucri-rro-'));
    await fs.mkdir(path.join(host, 'sub'));
    await run('mount', ['-t', 'tmpfs', 'tmpfs', path.join(host, 'sub')]);
  });
  after(async () => {
    try {
      await finishPodEnv(env, ok);
    } finally {
      await run('umount', [path.join(host, 'sub')]).catch(() => undefined);
      await fs.rm(host, { recursive: true, force: true });
    }
  });

  it('reports recursive read-only mounts as the runtime applies them and user namespaces as unsupported', async () => {
    const st = await env.c.runtime.status({ verbose: false });
    const rro = await runtimeHasRro();
    const mesos = st.runtimeHandlers.filter((h) => h.name === '' || h.name === 'mesos');
    assert.deepEqual(mesos.map((h) => h.name).sort(), ['', 'mesos']);
    for (const h of mesos) {
      assert.deepEqual(h.features, { recursiveReadOnlyMounts: rro, userNamespaces: false }, `handler "${h.name}"`);
    }
  });

  it('a recursive read-only mount is read-only below its submounts; a plain read-only one is not', async (t) => {
    if (!(await runtimeHasRro())) {
      // Not a pass: the feature is reported false above, and this host cannot show the mount itself.
      assert.fail('the runtime on this host does not support rro mounts; the mount itself cannot be tested here');
    }
    const mount = (containerPath: string, recursiveReadOnly: boolean) => ({
      containerPath,
      hostPath: host,
      readonly: true,
      propagation: MountPropagation.PROPAGATION_PRIVATE,
      recursiveReadOnly,
      selinuxRelabel: false,
      uidMappings: [],
      gidMappings: [],
      image: undefined,
      imageSubPath: '',
      mountOptions: [],
    });
    const { containerId } = await podWithContainer(env, 'sleep 1000', undefined, {
      mounts: [mount('/rro', true), mount('/ro', false)],
    });
    const tryWrite = async (dir: string) =>
      env.c.runtime.execSync({ containerId, cmd: ['sh', '-c', `echo x > ${dir}/sub/f`], timeout: 30n });
    const plain = await tryWrite('/ro');
    assert.equal(plain.exitCode, 0, 'a plain read-only bind leaves submounts writable (the reason rro exists)');
    const rro = await tryWrite('/rro');
    assert.notEqual(rro.exitCode, 0, 'the recursive read-only mount refused the write');
    assert.match(rro.stderr.toString(), /Read-only file system/);
    t.diagnostic('rro verified on this kernel');
    ok = true;
  });
});
