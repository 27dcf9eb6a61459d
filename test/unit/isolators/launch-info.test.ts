import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildSpec } from '../../../pkg/mesos/launch-info.js';
import { DEFAULT_MASKED_PATHS, defaultSpec } from '../../../pkg/oci/index.js';
import { isKind } from '../../../pkg/util/index.js';

const base = { rootfs: '/r', terminal: false };

describe('launch info merge', () => {
  it('builds a spec from fragments in order', async () => {
    const spec = await buildSpec(
      [
        {
          isolator: 'filesystem/linux',
          info: {
            namespaces: [{ type: 'mount' }, { type: 'uts' }],
            hostname: 'h',
            readonlyRootfs: true,
            mounts: [
              { destination: '/dev/shm', type: 'bind', source: '/pod/shm', options: ['rbind'] },
              { destination: '/etc/hosts', type: 'bind', source: '/pod/hosts', options: ['rbind'] },
            ],
            devices: [{ path: '/dev/x', type: 'c', major: 1, minor: 2 }],
          },
        },
        {
          isolator: 'docker/runtime',
          info: {
            command: ['/bin/app'],
            workingDir: '/w',
            env: [
              { key: 'PATH', value: '/img' },
              { key: 'A', value: '1' },
              { key: 'B', value: '2' },
            ],
          },
        },
        { isolator: 'cgroups/cpu', info: { cgroupsPath: '/u/p/c', resources: { cpu: { shares: 2 } } } },
        { isolator: 'cgroups/mem', info: { cgroupsPath: '/u/p/c', resources: { memory: { limit: 5 } } } },
        { isolator: 'namespaces/pid', info: { namespaces: [{ type: 'pid', path: '/proc/1/ns/pid' }] } },
        {
          isolator: 'linux/security',
          info: {
            user: { uid: 1, gid: 2, additionalGids: [3] },
            env: [{ key: 'A', value: 'later' }],
            seccomp: null,
            maskedPaths: [],
            devices: [{ path: '/dev/x', type: 'c', major: 9, minor: 9 }],
            resources: { devices: [{ allow: true, access: 'rwm' }] },
          },
        },
        {
          isolator: 'volume/host_path',
          info: { rootfsPropagation: 'rslave', mounts: [{ destination: '/data', source: '/d' }] },
        },
        { isolator: 'x', info: { rootfsPropagation: 'rshared' } },
        { isolator: 'y', info: { rootfsPropagation: 'rslave', namespaces: [{ type: 'uts', path: '/pin/uts' }] } },
      ],
      base,
    );
    const p = spec.process!;
    assert.deepEqual(p.args, ['/bin/app']);
    assert.equal(p.cwd, '/w');
    assert.deepEqual(p.env, ['PATH=/img', 'A=later', 'B=2']);
    assert.deepEqual(p.user, { uid: 1, gid: 2, additionalGids: [3] });
    assert.equal(spec.root?.path, '/r');
    assert.equal(spec.root?.readonly, true);
    assert.equal(spec.hostname, 'h');
    const l = spec.linux!;
    assert.equal(l.seccomp, undefined);
    assert.deepEqual(l.maskedPaths, []);
    assert.ok((l.readonlyPaths ?? []).length > 0, 'read-only paths default stays');
    assert.deepEqual(l.namespaces, [
      { type: 'mount' },
      { type: 'uts', path: '/pin/uts' },
      { type: 'pid', path: '/proc/1/ns/pid' },
    ]);
    assert.equal(l.cgroupsPath, '/u/p/c');
    assert.deepEqual(l.resources?.cpu, { shares: 2 });
    assert.deepEqual(l.resources?.memory, { limit: 5 });
    assert.deepEqual(l.resources?.devices?.at(-1), { allow: true, access: 'rwm' });
    assert.equal(l.resources?.devices?.[0]?.allow, false, 'default deny-all first');
    assert.deepEqual(l.devices, [{ path: '/dev/x', type: 'c', major: 9, minor: 9 }]);
    assert.equal(l.rootfsPropagation, 'rshared');
    const dests = spec.mounts!.map((m) => m.destination);
    assert.equal(dests.filter((d) => d === '/dev/shm').length, 1);
    assert.equal(spec.mounts!.find((m) => m.destination === '/dev/shm')?.source, '/pod/shm');
    assert.deepEqual(dests.slice(-2), ['/etc/hosts', '/data']);
    assert.ok(p.oomScoreAdj !== undefined, 'fitted to the host');
  });

  it('keeps the defaults without fragments and drops a hostname without a uts namespace', async () => {
    const spec = await buildSpec([{ isolator: 'a', info: { hostname: 'h' } }], base);
    assert.equal(spec.hostname, undefined);
    assert.deepEqual(spec.linux?.namespaces, []);
    assert.deepEqual(spec.linux?.maskedPaths, [...DEFAULT_MASKED_PATHS]);
    assert.equal(spec.linux?.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
    // Built only when no isolator sets seccomp, and then the base's profile, the one defaultSpec has.
    assert.deepEqual(spec.linux?.seccomp, defaultSpec().linux?.seccomp);
    const own = { defaultAction: 'SCMP_ACT_LOG' as const };
    assert.deepEqual((await buildSpec([{ isolator: 'a', info: { seccomp: own } }], base)).linux?.seccomp, own);
  });

  it('refuses two owners of one field and disagreeing cgroup paths', async () => {
    await assert.rejects(
      buildSpec(
        [
          { isolator: 'docker/runtime', info: { command: ['a'] } },
          { isolator: 'appc/runtime', info: { command: ['b'] } },
        ],
        base,
      ),
      (e: unknown) => {
        assert.ok(isKind(e, 'Internal'));
        assert.match(String(e), /"command".*"docker\/runtime".*"appc\/runtime"/);
        return true;
      },
    );
    await assert.rejects(
      buildSpec(
        [
          { isolator: 'cgroups/cpu', info: { resources: { cpu: { shares: 1 } } } },
          { isolator: 'other', info: { resources: { cpu: { shares: 2 } } } },
        ],
        base,
      ),
      (e: unknown) => isKind(e, 'Internal'),
    );
    await assert.rejects(
      buildSpec(
        [
          { isolator: 'cgroups/cpu', info: { cgroupsPath: '/a' } },
          { isolator: 'cgroups/mem', info: { cgroupsPath: '/b' } },
        ],
        base,
      ),
      (e: unknown) => isKind(e, 'Internal'),
    );
  });
});
