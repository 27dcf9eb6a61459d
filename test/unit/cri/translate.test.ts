import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MountPropagation, NamespaceMode, SecurityProfile_ProfileType } from '../../../pkg/cri/gen/cri/v1/api.js';
import { seccompProfile, toContainerSpec, toCriMount } from '../../../pkg/cri/translate/container.js';
import { toPodSpec } from '../../../pkg/cri/translate/pod.js';
import { createReq, podConfig } from './harness.js';

describe('CRI ⇄ domain translation', () => {
  it('turns a pod config into a PodSpec', () => {
    const cfg = podConfig('web', {
      dnsConfig: { servers: ['10.96.0.10'], searches: ['svc.cluster.local'], options: ['ndots:5'] },
      linux: {
        cgroupParent: '/kubepods/pod1',
        sysctls: { 'net.ipv4.ip_forward': '1' },
        securityContext: {
          namespaceOptions: {
            network: NamespaceMode.NODE,
            pid: NamespaceMode.CONTAINER,
            ipc: NamespaceMode.POD,
            targetId: '',
            usernsOptions: undefined,
          },
          runAsUser: { value: 1000n },
          supplementalGroups: [5n],
        } as never,
        overhead: undefined,
        resources: undefined,
      },
    });
    const s = toPodSpec('p'.repeat(64), cfg, 'mesos');
    assert.equal(s.name, 'web');
    assert.deepEqual(s.namespaces, { network: 'node', pid: 'container', ipc: 'pod' });
    assert.equal(s.runAsUser, 1000);
    assert.deepEqual(s.supplementalGroups, [5]);
    assert.equal(s.cgroupParent, '/kubepods/pod1');
    assert.deepEqual(s.dns?.searches, ['svc.cluster.local']);
    assert.deepEqual(s.seccomp, { type: 'unconfined' });
  });

  it('maps seccomp profiles, new and legacy', () => {
    assert.deepEqual(
      seccompProfile({ profileType: SecurityProfile_ProfileType.RuntimeDefault, localhostRef: '' }, ''),
      { type: 'runtime/default' },
    );
    assert.deepEqual(
      seccompProfile({ profileType: SecurityProfile_ProfileType.Localhost, localhostRef: '/p.json' }, ''),
      { type: 'localhost', path: '/p.json' },
    );
    assert.deepEqual(seccompProfile(undefined, 'localhost/x.json'), { type: 'localhost', path: 'x.json' });
    assert.deepEqual(seccompProfile(undefined, 'docker/default'), { type: 'runtime/default' });
  });

  it('turns a container config into a ContainerSpec and mounts back', () => {
    const pod = toPodSpec('p'.repeat(64), podConfig('web'), 'mesos');
    const req = createReq(pod.id, 'app', {
      envs: [{ key: 'A', value: Buffer.from('b=c') }],
      mounts: [
        {
          containerPath: '/d',
          hostPath: '/h',
          readonly: false,
          propagation: MountPropagation.PROPAGATION_BIDIRECTIONAL,
        } as never,
      ],
    });
    const s = toContainerSpec('c'.repeat(64), pod, req.config!, { id: 'sha256:1', ref: 'busybox' });
    assert.equal(s.logPath, '/var/log/pods/default_web/app/0.log');
    assert.deepEqual(s.env, [{ key: 'A', value: 'b=c' }]);
    assert.equal(s.mounts[0]?.propagation, 'rshared');
    assert.equal(toCriMount(s.mounts[0]!).propagation, MountPropagation.PROPAGATION_BIDIRECTIONAL);
    assert.deepEqual(s.namespaces, { pid: 'pod', ipc: 'pod', network: 'pod', targetId: '' });
    assert.equal(s.maskedPaths, undefined);
  });
});

describe('pod resources', () => {
  it('adds the overhead to the containers sum, keeps unset limits unset and rescales quotas', async () => {
    const { podResources } = await import('../../../pkg/cri/translate/pod.js');
    const { LinuxContainerResources } = await import('../../../pkg/cri/gen/cri/v1/api.js');
    const r = (p: Partial<import('../../../pkg/cri/gen/cri/v1/api.js').LinuxContainerResources>) =>
      LinuxContainerResources.fromPartial(p);
    const sum = podResources(
      r({ cpuShares: 24n, cpuQuota: 5_000n, cpuPeriod: 50_000n, memoryLimitInBytes: 8n << 20n }),
      r({ cpuShares: 1000n, cpuQuota: 50_000n, cpuPeriod: 100_000n, memoryLimitInBytes: 120n << 20n }),
    );
    assert.equal(sum?.cpuShares, 1024);
    assert.equal(sum?.cpuQuota, 60_000, 'the overhead quota is rescaled to the containers period');
    assert.equal(sum?.memoryLimitBytes, 128 << 20);
    const noLimit = podResources(r({ memoryLimitInBytes: 8n << 20n }), r({ cpuShares: 2n }));
    assert.equal(noLimit?.memoryLimitBytes, 0, 'containers without a limit: no pod limit');
    assert.equal(podResources(undefined, undefined), undefined);
    assert.equal(podResources(undefined, r({ memoryLimitInBytes: 1n << 20n }))?.memoryLimitBytes, 1 << 20);
  });
});
