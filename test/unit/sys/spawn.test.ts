/** run(): output capture, caps, errors, deadlines. Uses ordinary host programs (sh, cat); no root needed. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeCommand, run } from '../../../pkg/sys/index.js';
import { isKind } from '../../../pkg/util/index.js';

it('captures stdout and stderr and feeds stdin', async () => {
  const r = await run('sh', ['-c', 'cat; echo err >&2'], { stdin: 'in\n' });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, 'in\n');
  assert.equal(r.stderr, 'err\n');
});

it('fails with the command, exit code and stderr tail', async () => {
  await assert.rejects(run('sh', ['-c', 'echo first >&2; echo boom >&2; exit 3']), (e: unknown) => {
    assert.ok(isKind(e, 'Internal'));
    assert.match((e as Error).message, /^sh -c .* exited with code 3: first\nboom$/);
    return true;
  });
  const r = await run('sh', ['-c', 'exit 5'], { allowFailure: true });
  assert.equal(r.code, 5);
});

it('reports a missing program as unavailable', async () => {
  await assert.rejects(run('/nonexistent/prog', []), (e: unknown) => isKind(e, 'Unavailable'));
});

it('caps stdout and keeps the stderr tail', async () => {
  const r = await run('sh', ['-c', 'i=0; while [ $i -lt 2000 ]; do echo 0123456789; i=$((i+1)); done; echo END >&2'], {
    maxStdout: 100,
    maxStderr: 4,
  });
  assert.equal(r.stdout.length, 100);
  assert.ok(r.stdoutTruncated);
  assert.equal(r.stderr, 'END\n');
});

it('kills the child on timeout and on abort', async () => {
  await assert.rejects(run('sleep', ['30'], { timeoutMs: 50 }), (e: unknown) => isKind(e, 'DeadlineExceeded'));
  const ac = new AbortController();
  const p = run('sleep', ['30'], { signal: ac.signal });
  ac.abort();
  await assert.rejects(p, (e: unknown) => isKind(e, 'Cancelled'));
  await assert.rejects(run('sleep', ['30'], { signal: AbortSignal.abort() }), (e: unknown) => isKind(e, 'Cancelled'));
});

it('quotes arguments in command descriptions', () => {
  assert.equal(describeCommand('mount', ['-o', 'a,b', 'x y']), 'mount -o a,b "x y"');
});
