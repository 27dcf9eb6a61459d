/** criuErrors: what CheckpointContainer's FAILED_PRECONDITION quotes from CRIU's dump/restore log. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { criuErrors } from '../../../pkg/oci/index.js';

describe('criuErrors', () => {
  it('keeps the Error lines of a CRIU log (timestamps dropped), at most six; absent log: empty', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-k8sckpt-criu-'));
    try {
      const log = path.join(dir, 'dump.log');
      await fs.writeFile(
        log,
        [
          '(00.000010) Version: 3.17.1 (gitid 0)',
          '(00.000200) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds',
          '(00.000210) Warn  (criu/kerndat.c:1): something else',
          'Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed when initializing kerndat.',
          ...Array.from({ length: 10 }, (_, i) => `(00.1) Error (x.c:${i}): more`),
        ].join('\n'),
      );
      const text = await criuErrors(log);
      assert.ok(
        text.startsWith('Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds; Error (criu/kerndat.c'),
      );
      assert.equal(text.split('; ').length, 6);
      assert.ok(!text.includes('Warn'));
      assert.equal(await criuErrors(path.join(dir, 'absent.log')), '');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
