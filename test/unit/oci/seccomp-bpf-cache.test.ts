/** SeccompBpfCache's rules: which specs get a kept filter, which are compiled and learnt, what is kept. */
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { type LinuxSeccomp, SECCOMP_BPF_ANNOTATION, SeccompBpfCache, type Spec } from '../../../pkg/oci/index.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'ucri-bpf-'));
after(() => fs.rm(root, { recursive: true, force: true }));

function spec(seccomp: LinuxSeccomp | undefined, annotations?: Record<string, string>): Spec {
  return { ociVersion: '1.0.2', linux: { seccomp }, ...(annotations ? { annotations } : {}) } as Spec;
}

function denying(name: string): LinuxSeccomp {
  return { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [name], action: 'SCMP_ACT_ERRNO' }] };
}

async function compiled(id: string, bytes: Buffer): Promise<void> {
  await fs.mkdir(path.join(root, id), { recursive: true });
  await fs.writeFile(path.join(root, id, 'seccomp.bpf'), bytes);
}

describe('SeccompBpfCache', () => {
  const profile: LinuxSeccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }],
  };

  it('learns a compiled profile and gives it to the next create with the same profile only', async () => {
    const cache = new SeccompBpfCache(root);
    const first = cache.plan(spec(profile, { keep: 'me' }));
    assert.ok(first.learnAs);
    assert.equal(first.spec.annotations?.[SECCOMP_BPF_ANNOTATION], undefined);
    const filter = Buffer.alloc(64, 7);
    await compiled('a', filter);
    await cache.learn('a', first.learnAs);
    const next = cache.plan(spec(structuredClone(profile), { keep: 'me' }));
    assert.equal(next.learnAs, undefined);
    assert.equal(next.spec.annotations?.[SECCOMP_BPF_ANNOTATION], filter.toString('base64'));
    assert.equal(next.spec.annotations?.keep, 'me');
    assert.ok(next.spec.linux?.seccomp, 'the section stays (crun still reads its flags)');
    const other = cache.plan(spec({ ...profile, defaultAction: 'SCMP_ACT_KILL' }));
    assert.ok(other.learnAs && other.learnAs !== first.learnAs);
    assert.equal(other.spec.annotations, undefined);
  });

  it('leaves alone specs without a profile, with a listener, or with run.oci.seccomp annotations', () => {
    const cache = new SeccompBpfCache(root);
    for (const s of [
      spec(undefined),
      spec({ ...profile, listenerPath: '/run/agent.sock' }),
      spec(profile, { 'run.oci.seccomp_fail_unknown_syscall': '1' }),
      spec(profile, { [SECCOMP_BPF_ANNOTATION]: 'AAAA' }),
    ]) {
      const p = cache.plan(s);
      assert.equal(p.learnAs, undefined);
      assert.equal(p.spec, s);
    }
  });

  it('keeps nothing that is not whole BPF instructions, nor a filter it cannot read', async () => {
    const cache = new SeccompBpfCache(root);
    const p = cache.plan(spec(profile));
    await compiled('odd', Buffer.alloc(12));
    await cache.learn('odd', p.learnAs!);
    await compiled('empty', Buffer.alloc(0));
    await cache.learn('empty', p.learnAs!);
    await cache.learn('missing', p.learnAs!);
    assert.equal(cache.size, 0);
    assert.ok(cache.plan(spec(profile)).learnAs);
  });

  it('keeps a bounded number of profiles, dropping the oldest', async () => {
    const cache = new SeccompBpfCache(root);
    await compiled('b', Buffer.alloc(8, 1));
    const first = cache.plan(spec(denying('n0')));
    await cache.learn('b', first.learnAs!);
    for (let i = 1; i <= 40; i++) {
      const p = cache.plan(spec(denying(`n${i}`)));
      await cache.learn('b', p.learnAs!);
    }
    assert.equal(cache.size, 32);
    assert.ok(cache.plan(spec(denying('n0'))).learnAs);
  });
});
