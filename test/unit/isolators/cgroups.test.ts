import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  containerCgroupPath,
  createIsolators,
  ISOLATOR_NAMES,
  podCgroupPath,
} from '../../../pkg/mesos/isolators/index.js';
import { toOciResources } from '../../../pkg/mesos/containerizer/update.js';
import { CpuIsolator, cpuResources } from '../../../pkg/mesos/isolators/cgroups/cpu.js';
import { expandSlice } from '../../../pkg/mesos/isolators/cgroups/common.js';
import { MemIsolator } from '../../../pkg/mesos/isolators/cgroups/mem.js';
import { PidsIsolator } from '../../../pkg/mesos/isolators/cgroups/pids.js';
import { isKind } from '../../../pkg/util/index.js';
import { ctx, pod, podSpec, resources } from './fake.js';

const cgroupfs = { cgroupDriver: 'cgroupfs' as const, cgroupsRoot: 'ucri', recursiveReadOnlyMounts: true };
const systemd = { ...cgroupfs, cgroupDriver: 'systemd' as const };
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('cgroups isolators', () => {
  it('names pod and container cgroups for cgroupfs and systemd', async () => {
    assert.equal(podCgroupPath(podSpec(), cgroupfs), `ucri/${A}`);
    assert.equal(
      podCgroupPath(podSpec({ cgroupParent: '/kubepods/burstable/pod1' }), cgroupfs),
      'kubepods/burstable/pod1',
    );
    assert.equal(containerCgroupPath(`ucri/${A}`, B, 'cgroupfs'), `ucri/${A}/${B}`);
    assert.equal(
      expandSlice('kubepods-burstable-pod1.slice'),
      'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice',
    );
    assert.throws(
      () => expandSlice('a--b.slice'),
      (e: unknown) => isKind(e, 'InvalidArgument'),
    );
    const kp = podSpec({ cgroupParent: 'kubepods-pod1.slice' });
    assert.equal(podCgroupPath(kp, systemd), 'kubepods.slice/kubepods-pod1.slice');
    assert.equal(
      containerCgroupPath('kubepods.slice/kubepods-pod1.slice', B, 'systemd'),
      `kubepods.slice/kubepods-pod1.slice/ucri-${B}.scope`,
    );
    assert.throws(
      () => podCgroupPath(podSpec({ cgroupParent: '../../etc' }), cgroupfs),
      (e: unknown) => isKind(e, 'InvalidArgument'),
    );

    const c = ctx();
    assert.equal((await new CpuIsolator(cgroupfs).prepare(c)).cgroupsPath, `/ucri/${A}/${B}`);
    const sd = ctx({ pod: pod({ cgroupParent: 'kubepods-pod1.slice' }) });
    assert.equal((await new PidsIsolator(systemd).prepare(sd)).cgroupsPath, `kubepods-pod1.slice:ucri:${B}`);
  });

  it('turns CRI resources into OCI resources', async () => {
    const res = resources({
      cpuShares: 512,
      cpuQuota: 50000,
      cpuPeriod: 100000,
      cpusetCpus: '0',
      memoryLimitBytes: 64 << 20,
    });
    const c = ctx({ spec: { resources: res } });
    assert.deepEqual((await new CpuIsolator(cgroupfs).prepare(c)).resources, {
      cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0' },
    });
    assert.deepEqual((await new MemIsolator(cgroupfs).prepare(c)).resources, { memory: { limit: 64 << 20 } });
    assert.equal((await new CpuIsolator(cgroupfs).prepare(ctx())).resources, undefined);
    assert.deepEqual((await new PidsIsolator({ ...cgroupfs, pidsLimit: 100 }).prepare(ctx())).resources, {
      pids: { limit: 100 },
    });
    const badSwap = ctx({ spec: { resources: resources({ memoryLimitBytes: 100, memorySwapLimitBytes: 50 }) } });
    await assert.rejects(new MemIsolator(cgroupfs).prepare(badSwap), (e: unknown) => isKind(e, 'InvalidArgument'));
  });

  it('translates a CPU quota one way for create and update: 0 not set, negative unlimited (-1)', () => {
    assert.equal(cpuResources(resources()), undefined);
    assert.deepEqual(cpuResources(resources({ cpuQuota: 50000 })), { quota: 50000 });
    assert.deepEqual(cpuResources(resources({ cpuQuota: -1 })), { quota: -1 });
    assert.deepEqual(cpuResources(resources({ cpuQuota: -5 })), { quota: -1 });
    // runc update gets the same CPU part, plus memory when set.
    assert.deepEqual(toOciResources(resources({ cpuQuota: -1, cpuShares: 2, memoryLimitBytes: 1 << 20 })), {
      cpu: { quota: -1, shares: 2 },
      memory: { limit: 1 << 20 },
    });
    assert.deepEqual(toOciResources(resources()), {});
  });

  it('keeps one table order whatever the flag order and rejects unknown names', () => {
    const isos = createIsolators(
      ['volume/host_path', 'linux/security', 'cgroups/mem', 'filesystem/linux', 'cgroups/mem'],
      cgroupfs,
    );
    assert.deepEqual(
      isos.map((i) => i.name),
      ['filesystem/linux', 'cgroups/mem', 'linux/security', 'volume/host_path'],
    );
    // Building touches nothing on disk, so the CNI paths need not exist.
    const all = { ...cgroupfs, cni: { configDir: '/nonexistent/net.d', pluginDirs: [], stateDir: '/nonexistent/cni' } };
    assert.equal(createIsolators(ISOLATOR_NAMES, all).length, ISOLATOR_NAMES.length);
    for (const i of createIsolators(ISOLATOR_NAMES, all)) assert.ok(ISOLATOR_NAMES.includes(i.name));
    assert.equal(ISOLATOR_NAMES.at(-1), 'network/cni');
    assert.throws(
      () => createIsolators(['network/cni'], cgroupfs),
      (e: unknown) => isKind(e, 'InvalidArgument'),
    );
    assert.throws(
      () => createIsolators(['cgroups/cpu', 'posix/disk'], cgroupfs),
      (e: unknown) => {
        assert.ok(isKind(e, 'InvalidArgument'));
        assert.match(String(e), /"posix\/disk"/);
        return true;
      },
    );
  });
});
