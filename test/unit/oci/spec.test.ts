/** Default spec, seccomp profile and the pure helpers of pkg/oci. No root needed. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import {
  DEFAULT_CAPABILITIES,
  defaultSpec,
  fitSpecToHost,
  isNotExistMessage,
  parseK8sLog,
  runtimeDefaultSeccomp,
  runtimeMessage,
  SyncReader,
  validateContainerId,
} from '../../../pkg/oci/index.js';
import { ownNofileLimit, ownOomScoreAdj } from '../../../pkg/sys/index.js';
import { isKind } from '../../../pkg/util/index.js';

describe('defaultSpec', () => {
  it('has the container-runtime defaults', () => {
    const s = defaultSpec({ args: ['sh'], cgroupsPath: '/ucri/a', hostname: 'h' });
    assert.equal(s.ociVersion, '1.0.2');
    assert.equal(s.root?.path, 'rootfs');
    assert.deepEqual(s.process?.args, ['sh']);
    assert.ok(s.process?.env?.[0]?.startsWith('PATH='));
    assert.deepEqual(s.process?.capabilities?.bounding, [...DEFAULT_CAPABILITIES]);
    assert.equal(s.process?.capabilities?.inheritable, undefined, 'no inheritable capabilities');
    assert.deepEqual(
      s.mounts?.map((m) => m.destination),
      ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup'],
    );
    assert.ok(s.mounts?.find((m) => m.destination === '/sys')?.options?.includes('ro'));
    assert.ok(s.mounts?.find((m) => m.destination === '/sys/fs/cgroup')?.options?.includes('ro'));
    assert.deepEqual(s.linux?.namespaces?.map((n) => n.type).sort(), ['ipc', 'mount', 'network', 'pid', 'uts']);
    assert.ok(s.linux?.maskedPaths?.includes('/proc/kcore'));
    assert.ok(s.linux?.readonlyPaths?.includes('/proc/sys'));
    assert.deepEqual(s.linux?.resources?.devices?.[0], { allow: false, access: 'rwm' });
    assert.equal(s.linux?.cgroupsPath, '/ucri/a');
    assert.equal(s.hostname, 'h');
    assert.equal(s.process?.rlimits?.[0]?.type, 'RLIMIT_NOFILE');
    assert.ok(s.linux?.seccomp);
    assert.equal(defaultSpec({ seccomp: false }).linux?.seccomp, undefined);
    // Fresh objects each call.
    s.mounts?.pop();
    assert.equal(defaultSpec().mounts?.length, 7);
  });

  it('fits rlimits and oom_score_adj to what the daemon may grant', async () => {
    const s = defaultSpec();
    s.process!.oomScoreAdj = -999;
    await fitSpecToHost(s);
    const own = await ownNofileLimit();
    assert.ok(s.process!.rlimits![0]!.hard <= own.hard);
    assert.ok(s.process!.rlimits![0]!.soft <= s.process!.rlimits![0]!.hard);
    assert.equal(s.process!.oomScoreAdj, Math.max(-999, await ownOomScoreAdj()));
  });
});

describe('runtimeDefaultSeccomp', () => {
  it('allows ordinary syscalls, gates the dangerous ones on capabilities', () => {
    const p = runtimeDefaultSeccomp(DEFAULT_CAPABILITIES, 'x64');
    assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(p.defaultErrnoRet, 1);
    assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const allowed = new Set(
      p.syscalls?.filter((r) => !r.args && r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names),
    );
    for (const n of ['read', 'execve', 'clone3', 'mount', 'unshare', 'ptrace', 'arch_prctl', 'chroot']) {
      assert.equal(allowed.has(n), ['read', 'execve', 'ptrace', 'arch_prctl', 'chroot'].includes(n), n);
    }
    const clone3 = p.syscalls?.find((r) => r.names.includes('clone3'));
    assert.deepEqual([clone3?.action, clone3?.errnoRet], ['SCMP_ACT_ERRNO', 38]);
    const clone = p.syscalls?.find((r) => r.names.includes('clone') && r.args);
    assert.equal(clone?.args?.[0]?.op, 'SCMP_CMP_MASKED_EQ');
    const admin = runtimeDefaultSeccomp([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], 'x64');
    const adminAllowed = new Set(admin.syscalls?.filter((r) => !r.args).flatMap((r) => r.names));
    assert.ok(adminAllowed.has('mount') && adminAllowed.has('clone') && adminAllowed.has('clone3'));
    assert.equal(
      admin.syscalls?.some((r) => r.action === 'SCMP_ACT_ERRNO'),
      false,
    );
  });
});

describe('runtime helpers', () => {
  it('extracts runc messages and recognises unknown containers', () => {
    const stderr = 'time="2024-01-01T00:00:00Z" level=error msg="container does not exist"\n';
    assert.equal(runtimeMessage(stderr), 'container does not exist');
    assert.ok(isNotExistMessage(stderr));
    assert.ok(isNotExistMessage('error opening file `/run/crun/x/status`: No such file or directory'));
    assert.equal(isNotExistMessage('permission denied'), false);
    assert.equal(runtimeMessage('plain\nlast line\n'), 'last line');
    assert.equal(runtimeMessage('msg="say \\"hi\\""'), 'say "hi"');
  });
  it('validates container ids', () => {
    validateContainerId('abc-1_2.3');
    for (const bad of ['', '-x', '../x', 'a/b', 'a b', 'x'.repeat(129)]) {
      assert.throws(
        () => validateContainerId(bad),
        (e: unknown) => isKind(e, 'InvalidArgument'),
        bad,
      );
    }
  });
});

describe('parseK8sLog', () => {
  it('rebuilds streams from full and partial lines and caps them', () => {
    const log = [
      '2024-01-01T00:00:00.000000001Z stdout F hello',
      '2024-01-01T00:00:00.000000002Z stderr P par',
      '2024-01-01T00:00:00.000000003Z stderr F tial',
      '2024-01-01T00:00:00.000000004Z stdout F ',
      'garbage',
      '2024-01-01T00:00:00.000000005Z stdout P end',
    ].join('\n');
    const r = parseK8sLog(Buffer.from(`${log}\n`), 1000);
    assert.equal(r.stdout.toString(), 'hello\n\nend');
    assert.equal(r.stderr.toString(), 'partial\n');
    assert.equal(parseK8sLog(Buffer.from(log), 3).stdout.toString(), 'hel');
  });
});

describe('SyncReader', () => {
  it('reads JSON lines split across chunks and fails at EOF', async () => {
    const s = new PassThrough();
    const r = new SyncReader(s);
    s.write('{"data": 12');
    s.write('3}\n{"data": -1, "message": "boom"}\n');
    assert.deepEqual(await r.next(), { data: 123, message: undefined });
    assert.deepEqual(await r.next(), { data: -1, message: 'boom' });
    s.end();
    await assert.rejects(r.next(), (e: unknown) => isKind(e, 'Internal'));
  });
  it('rejects malformed messages', async () => {
    const s = new PassThrough();
    const r = new SyncReader(s);
    s.write('{"pid": 1}\n');
    await assert.rejects(r.next(), /malformed/);
  });
});
