import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  computeCapabilities,
  hostCapabilities,
  normalizeCapability,
  SecurityIsolator,
} from '../../../pkg/mesos/isolators/linux/security.js';
import { DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS } from '../../../pkg/oci/index.js';
import { isKind } from '../../../pkg/util/index.js';
import { ctx, pod } from './fake.js';

let tmp: string;
const iso = new SecurityIsolator();

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-sec-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('linux/security', () => {
  it('adds and drops capabilities with or without CAP_, ALL in both', async () => {
    const all = await hostCapabilities();
    assert.equal(normalizeCapability('net_admin'), 'CAP_NET_ADMIN');
    assert.equal(normalizeCapability('CAP_SYS_ADMIN'), 'CAP_SYS_ADMIN');
    assert.throws(
      () => normalizeCapability('CAP_NOPE'),
      (e: unknown) => isKind(e, 'InvalidArgument'),
    );
    const c1 = computeCapabilities(['NET_ADMIN'], ['CAP_CHOWN', 'kill'], all);
    assert.ok(c1.includes('CAP_NET_ADMIN') && !c1.includes('CAP_CHOWN') && !c1.includes('CAP_KILL'));
    assert.equal(c1.length, DEFAULT_CAPABILITIES.length - 1);
    assert.deepEqual(computeCapabilities(['ALL'], [], all), [...all]);
    assert.deepEqual(computeCapabilities(['NET_RAW'], ['ALL'], all), ['CAP_NET_RAW']);
    assert.deepEqual(computeCapabilities(['ALL'], ['ALL'], all), []);
    assert.ok(!computeCapabilities(['ALL'], ['SYS_ADMIN'], all).includes('CAP_SYS_ADMIN'));
    // Only what ucri itself holds can be handed out: ALL means those, a named missing one is refused.
    const own = /^CapBnd:\s*([0-9a-f]+)$/m.exec(await fs.readFile('/proc/self/status', 'utf8'))![1]!;
    assert.equal(all.length, [...BigInt(`0x${own}`).toString(2)].filter((b) => b === '1').length);
    const partial = all.filter((c) => c !== 'CAP_SYS_RESOURCE');
    assert.ok(!computeCapabilities(['ALL'], [], partial).includes('CAP_SYS_RESOURCE'));
    assert.throws(
      () => computeCapabilities(['SYS_RESOURCE'], [], partial),
      (e: unknown) => isKind(e, 'FailedPrecondition') && /CAP_SYS_RESOURCE/.test(String(e)),
    );
    const info = await iso.prepare(ctx({ spec: { capabilities: { add: [], drop: ['CHOWN'] } } }));
    assert.ok(!info.capabilities?.effective.includes('CAP_CHOWN'));
    assert.deepEqual(info.capabilities?.inheritable, []);
    assert.deepEqual(info.capabilities?.ambient, []);
  });

  it('masked and read-only paths: defaults when unset, none when empty', async () => {
    const d = await iso.prepare(ctx());
    assert.deepEqual(d.maskedPaths, [...DEFAULT_MASKED_PATHS]);
    assert.ok((d.readonlyPaths ?? []).includes('/proc/sys'));
    const e = await iso.prepare(ctx({ spec: { maskedPaths: [], readonlyPaths: [] } }));
    assert.deepEqual(e.maskedPaths, []);
    assert.deepEqual(e.readonlyPaths, []);
    const x = await iso.prepare(ctx({ spec: { maskedPaths: ['/proc/x'] } }));
    assert.deepEqual(x.maskedPaths, ['/proc/x']);
    await assert.rejects(iso.prepare(ctx({ spec: { maskedPaths: ['rel'] } })), (e2: unknown) =>
      isKind(e2, 'InvalidArgument'),
    );
  });

  it('privileged: every capability and device, no masks, rw sysfs, no seccomp; only in privileged pods', async () => {
    const p = pod({ privileged: true });
    const info = await iso.prepare(ctx({ pod: p, spec: { privileged: true } }));
    assert.deepEqual(info.capabilities?.bounding, [...(await hostCapabilities())]);
    assert.equal(info.seccomp, null);
    assert.deepEqual(info.maskedPaths, []);
    assert.deepEqual(info.readonlyPaths, []);
    assert.ok((info.devices ?? []).some((d) => d.path === '/dev/null'));
    assert.deepEqual(info.resources?.devices, [{ allow: true, access: 'rwm' }]);
    assert.deepEqual(info.mounts?.find((m) => m.destination === '/sys')?.options?.includes('rw'), true);
    await assert.rejects(iso.prepare(ctx({ spec: { privileged: true } })), (e: unknown) =>
      isKind(e, 'InvalidArgument'),
    );
  });

  it('seccomp: RuntimeDefault, Unconfined, Localhost', async () => {
    assert.equal((await iso.prepare(ctx())).seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal((await iso.prepare(ctx({ spec: { seccomp: { type: 'unconfined' } } }))).seccomp, null);
    const file = path.join(tmp, 'profile.json');
    await fs.writeFile(
      file,
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
        syscalls: [
          { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
          { name: 'reboot', action: 'SCMP_ACT_ERRNO', includes: { caps: ['CAP_SYS_BOOT'] } },
        ],
      }),
    );
    const local = await iso.prepare(ctx({ spec: { seccomp: { type: 'localhost', path: file } } }));
    assert.equal(local.seccomp?.defaultAction, 'SCMP_ACT_ALLOW');
    assert.deepEqual(local.seccomp?.syscalls, [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }]);
    if (process.arch === 'x64') assert.deepEqual(local.seccomp?.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
    const bad = path.join(tmp, 'bad.json');
    await fs.writeFile(bad, '{"defaultAction": "SCMP_ACT_NOPE"}');
    for (const p of [bad, 'relative.json']) {
      await assert.rejects(iso.prepare(ctx({ spec: { seccomp: { type: 'localhost', path: p } } })), (e: unknown) =>
        isKind(e, 'InvalidArgument'),
      );
    }
    await assert.rejects(
      iso.prepare(ctx({ spec: { seccomp: { type: 'localhost', path: path.join(tmp, 'missing.json') } } })),
      (e: unknown) => isKind(e, 'FailedPrecondition'),
    );
  });

  it('sysctls, no_new_privs and oom_score_adj', async () => {
    const info = await iso.prepare(
      ctx({
        pod: pod({ sysctls: { 'net.ipv4.ip_forward': '1' } }),
        spec: {
          sysctls: { 'kernel.shm_rmid_forced': '1' },
          noNewPrivs: true,
          resources: { ...ctx().spec.resources, oomScoreAdj: 1000 },
        },
      }),
    );
    assert.deepEqual(info.sysctl, { 'net.ipv4.ip_forward': '1', 'kernel.shm_rmid_forced': '1' });
    assert.equal(info.noNewPrivileges, true);
    assert.equal(info.oomScoreAdj, 1000);
    const hostNet = pod({
      namespaces: { network: 'node', pid: 'container', ipc: 'pod' },
      sysctls: { 'net.core.somaxconn': '1' },
    });
    await assert.rejects(iso.prepare(ctx({ pod: hostNet })), (e: unknown) => {
      assert.ok(isKind(e, 'InvalidArgument'));
      assert.match(String(e), /net\.core\.somaxconn/);
      return true;
    });
  });
});
