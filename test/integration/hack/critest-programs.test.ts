/**
 * The stand-ins' C programs compile statically, and the nonewprivs program reports what the kernel did with
 * its setuid bit: euid 0 for an unprivileged caller normally, the caller's uid under no_new_privs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { buildPrograms } from '../../../hack/critest/programs.js';

const run = promisify(execFile);

/** Whether an ELF64 binary names a program interpreter (PT_INTERP), i.e. needs a dynamic loader. */
function hasInterpreter(elf: Buffer): boolean {
  assert.equal(elf.subarray(0, 4).toString('latin1'), '\x7fELF');
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const size = elf.readUInt16LE(0x36);
  const count = elf.readUInt16LE(0x38);
  for (let i = 0; i < count; i++) if (elf.readUInt32LE(phoff + i * size) === 3) return true;
  return false;
}

describe('critest stand-in programs', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-critest-programs-'));
    await fs.chmod(dir, 0o755);
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('builds static binaries; nonewprivs shows whether setuid took effect', async () => {
    const programs = await buildPrograms(dir);
    for (const name of ['nginx', 'nonewprivs'] as const) {
      assert.ok(programs[name].byteLength > 0);
      assert.ok(!hasInterpreter(programs[name]), `${name} is dynamically linked`);
    }
    const nnp = path.join(dir, 'nonewprivs');
    await fs.chown(nnp, 0, 0);
    await fs.chmod(nnp, 0o4755);
    const as1000 = ['--reuid=1000', '--regid=1000', '--clear-groups'];
    assert.equal((await run('setpriv', [...as1000, nnp])).stdout, 'Effective uid: 0\n');
    assert.equal((await run('setpriv', [...as1000, '--no-new-privs', nnp])).stdout, 'Effective uid: 1000\n');
  });
});
