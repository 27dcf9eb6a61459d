/**
 * Streaming exec through native/exec-relay in real runc containers: stdio kept apart, stdin half-close,
 * exit codes, a terminal with resize, output kept for a late reader, and close() leaving no process in the
 * container; ExecSync on the same helper (output, exit code, timeout, cancellation). Needs root.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rmdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { execStream, execSyncRelay, type Process } from '../../../pkg/oci/index.js';
import { isKind } from '../../../pkg/util/index.js';
import { type Bundle, eventually, Fixture } from './fixture.js';

let f: Fixture;
let b: Bundle;
let initPid: number;

before(async () => {
  f = await Fixture.create();
  b = await f.bundle(['sleep', '1000']);
  initPid = (await f.createContainer(b)).pid;
  await f.runtime.start(b.id);
});

after(async () => {
  await f?.cleanup();
});

function collect(r: Readable | undefined): Promise<string> {
  if (!r) return Promise.resolve('');
  if (r.readableEnded) return Promise.resolve('(ended before it was read)');
  return new Promise((resolve, reject) => {
    let s = '';
    r.on('data', (c: Buffer) => {
      s += c.toString('utf8');
    });
    r.on('end', () => resolve(s));
    r.on('error', reject);
  });
}

function proc(args: string[], over: Partial<Process> = {}): Process {
  return { ...b.spec.process!, args, terminal: false, ...over };
}

describe('streaming exec', () => {
  it('keeps stdout and stderr apart, feeds stdin until half-close, reports the exit code', async () => {
    const scratchDir = await mkdtemp(path.join(os.tmpdir(), 'ucri-exec-scratch-'));
    const s = await execStream(f.runtime, {
      id: b.id,
      process: proc(['sh', '-c', 'cat; echo err >&2; exit 3']),
      stdin: true,
      scratchDir,
    });
    assert.equal((await readdir(scratchDir)).length, 1, 'one scratch dir while the exec runs');
    const out = collect(s.stdout);
    const err = collect(s.stderr);
    s.stdin!.write('hello ');
    s.stdin!.end('world\n');
    assert.equal(await s.done, 3);
    assert.equal(await out, 'hello world\n');
    assert.equal(await err, 'err\n');
    await s.close();
    assert.deepEqual(await readdir(scratchDir), [], 'the scratch dir is gone once closed');
    await rmdir(scratchDir);
  });

  it('fails with the runtime message when the command does not exist', async () => {
    await assert.rejects(
      execStream(f.runtime, { id: b.id, process: proc(['/nonexistent']), stdin: false }),
      (e: unknown) => isKind(e, 'Internal') && /nonexistent/.test((e as Error).message),
    );
  });

  it('runs on a terminal that honours resize', async () => {
    const s = await execStream(f.runtime, {
      id: b.id,
      process: proc(['sh'], { terminal: true, consoleSize: { height: 24, width: 80 } }),
      stdin: true,
    });
    assert.equal(s.stderr, undefined);
    let out = '';
    s.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    s.resize(33, 111);
    s.stdin!.write('busybox stty size; exit 5\n');
    assert.equal(await s.done, 5);
    assert.match(out, /33 111/);
    await s.close();
  });

  it('close() kills and reaps the process and its children', async () => {
    const s = await execStream(f.runtime, {
      id: b.id,
      process: proc(['sh', '-c', 'sleep 100 & sleep 100 & echo started; sleep 100; echo never']),
      stdin: false,
    });
    let out = '';
    s.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    await eventually(async () => (out.includes('started') ? true : undefined), 'exec started');
    assert.equal((await f.runtime.ps(b.id)).length, 5);
    await s.close();
    assert.deepEqual(await f.runtime.ps(b.id), [initPid]);
    assert.equal(await s.done, 137);
  });

  it('keeps the output of a command that has ended before it is read', async () => {
    const s = await execStream(f.runtime, {
      id: b.id,
      process: proc(['sh', '-c', 'echo out; echo err >&2']),
      stdin: false,
    });
    // By now the helper has exited: node resumes (and drops) a dead child's unread stdio.
    assert.equal(await s.done, 0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await collect(s.stdout), 'out\n');
    assert.equal(await collect(s.stderr), 'err\n');
    await s.close();
  });
});

describe('ExecSync through the exec helper', () => {
  it('captures stdout, stderr and the exit code', async () => {
    const r = await execSyncRelay(f.runtime, { id: b.id, process: proc(['echo', 'hi']) });
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout.toString(), 'hi\n');
    assert.equal(r.stderr.toString(), '');
    const r2 = await execSyncRelay(f.runtime, {
      id: b.id,
      process: proc(['sh', '-c', 'printf partial; echo err >&2; exit 4']),
    });
    assert.equal(r2.exitCode, 4);
    assert.equal(r2.stdout.toString(), 'partial');
    assert.equal(r2.stderr.toString(), 'err\n');
  });

  it('caps each stream at maxOutputBytes', async () => {
    const r = await execSyncRelay(f.runtime, {
      id: b.id,
      process: proc([
        'sh',
        '-c',
        'i=0; while [ $i -lt 500 ]; do echo 0123456789; echo abcdefghij >&2; i=$((i+1)); done',
      ]),
      maxOutputBytes: 1000,
    });
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout.length, 1000);
    assert.equal(r.stderr.length, 1000);
  });

  it('times out with DeadlineExceeded, leaving no process behind', async () => {
    await assert.rejects(
      execSyncRelay(f.runtime, {
        id: b.id,
        process: proc(['sh', '-c', 'sleep 100 & sleep 100 & sleep 100']),
        timeoutMs: 1000,
      }),
      (e: unknown) => isKind(e, 'DeadlineExceeded'),
    );
    // As critest checks: right after the reply, the timed-out process and its children are gone (reaped).
    assert.deepEqual(await f.runtime.ps(b.id), [initPid]);
  });

  it("ends with the caller's abort, leaving no process behind", async () => {
    const ac = new AbortController();
    const run = execSyncRelay(f.runtime, { id: b.id, process: proc(['sleep', '100']), signal: ac.signal });
    await eventually(async () => ((await f.runtime.ps(b.id)).length >= 2 ? true : undefined), 'exec started');
    ac.abort();
    await assert.rejects(run, (e: unknown) => isKind(e, 'Cancelled'));
    assert.deepEqual(await f.runtime.ps(b.id), [initPid]);
  });

  it('reports the exit code of every quick command run many at a time', async () => {
    // The helper's exit can be reported before its "pid"/"exit" lines are read; the session must wait for
    // them rather than fail ("exec helper failed", "lost its helper"). 4 at a time, as kubelet's probes.
    const codes = Array.from({ length: 120 }, (_, i) => i % 4);
    const got: number[] = [];
    for (let i = 0; i < codes.length; i += 4) {
      const batch = codes.slice(i, i + 4).map(async (code) => {
        const r = await execSyncRelay(f.runtime, {
          id: b.id,
          process: proc(['sh', '-c', `echo ${code}; exit ${code}`]),
        });
        assert.equal(r.stdout.toString(), `${code}\n`);
        return r.exitCode;
      });
      got.push(...(await Promise.all(batch)));
    }
    assert.deepEqual(got, codes);
  });

  it('fails with the runtime message when the command does not exist', async () => {
    await assert.rejects(
      execSyncRelay(f.runtime, { id: b.id, process: proc(['/nonexistent']) }),
      (e: unknown) => isKind(e, 'Internal') && /nonexistent/.test((e as Error).message),
    );
  });
});
