import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NamespaceMode } from '../../../pkg/cri/gen/cri/v1/api.js';
import { runtimeSchemas } from '../../../pkg/cri/validate/runtime.js';
import { createReq, runPodReq } from './harness.js';
import { unifiedOnlyResources } from '../../support/specs.js';

/** The field paths a schema complains about, joined as the server names them. */
function fields(
  schema: { safeParse(v: unknown): { success: boolean; error?: { issues: Array<{ path: PropertyKey[] }> } } },
  v: unknown,
): string[] {
  const r = schema.safeParse(v);
  return r.success ? [] : r.error!.issues.map((i) => i.path.map(String).join('.'));
}

describe('runtime request validation', () => {
  it('accepts what kubelet and critest send', () => {
    assert.deepEqual(fields(runtimeSchemas.runPodSandbox, runPodReq('Create-PodSandbox-for-test-1')), []);
    assert.deepEqual(fields(runtimeSchemas.createContainer, createReq('ab12')), []);
  });

  it('names the missing or bad field', () => {
    const noMeta = runPodReq();
    noMeta.config!.metadata = undefined;
    assert.deepEqual(fields(runtimeSchemas.runPodSandbox, noMeta), ['config.metadata']);
    const badName = runPodReq();
    badName.config!.metadata!.name = 'a_b';
    assert.deepEqual(fields(runtimeSchemas.runPodSandbox, badName), ['config.metadata.name']);
    const relLog = runPodReq('x', { logDirectory: 'var/log' });
    assert.deepEqual(fields(runtimeSchemas.runPodSandbox, relLog), ['config.logDirectory']);
    const ns = runPodReq('x', {
      linux: {
        cgroupParent: '',
        securityContext: {
          namespaceOptions: { network: NamespaceMode.TARGET, pid: 0, ipc: 0, targetId: '', usernsOptions: undefined },
        } as never,
        sysctls: {},
        overhead: undefined,
        resources: undefined,
      },
    });
    assert.deepEqual(fields(runtimeSchemas.runPodSandbox, ns), [
      'config.linux.securityContext.namespaceOptions.network',
    ]);

    const mount = createReq('ab');
    mount.config!.mounts[0]!.hostPath = 'relative';
    assert.deepEqual(fields(runtimeSchemas.createContainer, mount), ['config.mounts.0.hostPath']);
    // Image volumes: no host path, a relative sub path without "..", private propagation.
    const imageVolume = (over: Record<string, unknown>) => {
      const r = createReq('ab');
      Object.assign(r.config!.mounts[0]!, {
        hostPath: '',
        image: { image: 'busybox', annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
        ...over,
      });
      return r;
    };
    assert.deepEqual(fields(runtimeSchemas.createContainer, imageVolume({ imageSubPath: 'a/b' })), []);
    assert.deepEqual(fields(runtimeSchemas.createContainer, imageVolume({ hostPath: '/x' })), [
      'config.mounts.0.hostPath',
    ]);
    for (const sub of ['../a', 'a/../../b', '/abs']) {
      assert.deepEqual(fields(runtimeSchemas.createContainer, imageVolume({ imageSubPath: sub })), [
        'config.mounts.0.imageSubPath',
      ]);
    }
    assert.deepEqual(fields(runtimeSchemas.createContainer, imageVolume({ propagation: 2 })), [
      'config.mounts.0.propagation',
    ]);
    const subWithoutImage = createReq('ab');
    subWithoutImage.config!.mounts[0]!.imageSubPath = 'a';
    assert.deepEqual(fields(runtimeSchemas.createContainer, subWithoutImage), ['config.mounts.0.imageSubPath']);
    const noImage = createReq('ab');
    noImage.config!.image!.image = '';
    assert.deepEqual(fields(runtimeSchemas.createContainer, noImage), ['config.image.image']);
    const outside = createReq('ab');
    outside.config!.logPath = '../../etc/x.log';
    assert.deepEqual(fields(runtimeSchemas.createContainer, outside), ['config.logPath']);
    const noPod = createReq('');
    assert.deepEqual(fields(runtimeSchemas.createContainer, noPod), ['podSandboxId']);
    assert.deepEqual(fields(runtimeSchemas.stopContainer, { containerId: 'ab', timeout: -1n }), ['timeout']);
    assert.deepEqual(fields(runtimeSchemas.execSync, { containerId: 'ab', cmd: [], timeout: 0n }), ['cmd']);
    assert.deepEqual(fields(runtimeSchemas.startContainer, { containerId: '../x' }), ['containerId']);
  });

  it('refuses a run_as_group without a user, in containers and pods', () => {
    const withGroup = (user: object) => {
      const r = createReq('ab');
      r.config!.linux = { securityContext: { runAsGroup: { value: 5n }, ...user } } as never;
      return r;
    };
    assert.deepEqual(fields(runtimeSchemas.createContainer, withGroup({})), [
      'config.linux.securityContext.runAsGroup',
    ]);
    assert.deepEqual(fields(runtimeSchemas.createContainer, withGroup({ runAsUser: { value: 1n } })), []);
    assert.deepEqual(fields(runtimeSchemas.createContainer, withGroup({ runAsUsername: 'www-data' })), []);
    const pod = runPodReq('x', {
      linux: {
        cgroupParent: '',
        securityContext: { runAsGroup: { value: 5n } } as never,
        sysctls: {},
        overhead: undefined,
        resources: undefined,
      },
    });
    assert.deepEqual(fields(runtimeSchemas.runPodSandbox, pod), ['config.linux.securityContext.runAsGroup']);
  });

  it('takes the deprecated seccomp_profile_path only as a named profile or localhost/<absolute path>', () => {
    const container = (seccompProfilePath: string) => {
      const r = createReq('ab');
      r.config!.linux = { securityContext: { seccompProfilePath } } as never;
      return fields(runtimeSchemas.createContainer, r);
    };
    const pod = (seccompProfilePath: string) =>
      fields(
        runtimeSchemas.runPodSandbox,
        runPodReq('x', {
          linux: {
            cgroupParent: '',
            securityContext: { seccompProfilePath } as never,
            sysctls: {},
            overhead: undefined,
            resources: undefined,
          },
        }),
      );
    for (const good of ['', 'runtime/default', 'docker/default', 'unconfined', 'localhost//etc/seccomp/p.json']) {
      assert.deepEqual(container(good), [], good);
      assert.deepEqual(pod(good), [], good);
    }
    for (const bad of ['/etc/seccomp/p.json', 'p.json', 'localhost/p.json', 'localhost/', 'Unconfined']) {
      assert.deepEqual(container(bad), ['config.linux.securityContext.seccompProfilePath'], bad);
      assert.deepEqual(pod(bad), ['config.linux.securityContext.seccompProfilePath'], bad);
    }
  });

  it('takes unified cgroup keys only as plain cgroup file names, wherever resources enter', () => {
    const update = (unified: Record<string, string>) =>
      fields(runtimeSchemas.updateContainerResources, { containerId: 'ab', linux: unifiedOnlyResources(unified) });
    for (const good of ['memory.high', 'hugetlb.2MB.max', 'cpu.max.burst', 'io.weight', 'cgroup.max.depth']) {
      assert.deepEqual(update({ [good]: '1' }), [], good);
    }
    for (const bad of ['../../cgroup.procs', 'cgroup.procs', 'cgroup.kill', 'memory', 'memory/x.max', '.x', '']) {
      assert.deepEqual(update({ [bad]: '1' }), [`linux.unified.${bad}`], bad);
    }
    assert.deepEqual(update({ 'memory.high': '1\nmax' }), ['linux.unified.memory.high']);
    const create = createReq('ab');
    create.config!.linux = { resources: unifiedOnlyResources({ '../x': '1' }) } as never;
    assert.deepEqual(fields(runtimeSchemas.createContainer, create), ['config.linux.resources.unified.../x']);
  });
});
