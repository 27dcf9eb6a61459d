/**
 * The daemon's process starter (native/spawner.c, pkg/sys/spawner.ts) with real programs: children are the
 * spawner's (not the test process's), exit codes and signals come back, stdio of any count are passed over
 * SCM_RIGHTS, timeouts and aborts leave no process (not even a zombie), no shell is ever involved, and a
 * killed spawner fails what it had in flight clearly, leaves its children alone and is replaced.
 */
import assert from 'node:assert/strict';
import { spawn as nodeSpawn } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { after, before, it } from 'node:test';
import { nativeHelper, run, start, waitChild } from '../../../pkg/sys/index.js';
import { theSpawner } from '../../../pkg/sys/spawner.js';
import { configureLogging, isKind } from '../../../pkg/util/index.js';

let dir: string;

before(async () => {
  configureLogging({ silent: true });
  if (!theSpawner()) throw new Error('dist/native/spawner is not built (make native)');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-spawner-test-'));
});

after(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** True while `pid` exists in /proc (a zombie counts: it has not been reaped). */
async function exists(pid: number): Promise<boolean> {
  return fs.access(`/proc/${pid}`).then(
    () => true,
    () => false,
  );
}

async function waitGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (!(await exists(pid))) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

async function parentOf(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

it('runs children as the spawner’s, with the given env and cwd only', async () => {
  const r = await run('sh', ['-c', 'echo $PPID; pwd; env | sort'], {
    env: { PATH: '/usr/bin:/bin', A: 'b c' },
    cwd: dir,
  });
  const [ppid, cwd, ...env] = r.stdout.trim().split('\n');
  assert.equal(Number(ppid), theSpawner()?.pid(), 'the parent is the spawner');
  assert.notEqual(Number(ppid), process.pid);
  assert.equal(cwd, dir);
  assert.deepEqual(
    env.filter((e) => !e.startsWith('PWD=') && !e.startsWith('SHLVL=') && !e.startsWith('_=')),
    ['A=b c', 'PATH=/usr/bin:/bin'],
  );
});

it('reports exit codes, signals, stdin and output caps', async () => {
  assert.equal((await run('sh', ['-c', 'exit 7'], { allowFailure: true })).code, 7);
  const killed = await run('sh', ['-c', 'kill -TERM $$'], { allowFailure: true });
  assert.equal(killed.code, null);
  assert.equal(killed.signal, 'SIGTERM');
  await assert.rejects(run('sh', ['-c', 'kill -KILL $$']), /was killed by SIGKILL/);
  const fed = await run('cat', [], { stdin: 'x'.repeat(300_000) });
  assert.equal(fed.stdout.length, 300_000);
  const capped = await run('sh', ['-c', 'head -c 100000 /dev/zero; echo 0123456789 >&2'], {
    maxStdout: 1000,
    maxStderr: 4,
  });
  assert.equal(capped.stdout.length, 1000);
  assert.ok(capped.stdoutTruncated);
  assert.equal(capped.stderr, '789\n');
});

it('reports programs that cannot be started, and never runs a script through a shell', async () => {
  await assert.rejects(run('no-such-program-ucri', []), (e: unknown) => isKind(e, 'Unavailable'));
  await assert.rejects(run('true', [], { cwd: path.join(dir, 'missing') }), (e: unknown) => isKind(e, 'Unavailable'));
  const script = path.join(dir, 'no-shebang');
  await fs.writeFile(script, 'echo ran\n', { mode: 0o755 });
  await assert.rejects(run(script, []), (e: unknown) => {
    assert.match((e as Error).message, /ENOEXEC/);
    return true;
  });
});

it('kills on timeout and abort, by pid, and reaps: no process and no zombie is left', async () => {
  const pidFile = path.join(dir, 'pid');
  await assert.rejects(run('sh', ['-c', `echo $$ > ${pidFile}; exec sleep 30`], { timeoutMs: 300 }), (e: unknown) =>
    isKind(e, 'DeadlineExceeded'),
  );
  const pid = Number(await fs.readFile(pidFile, 'utf8'));
  assert.ok(pid > 0);
  assert.ok(await waitGone(pid), `pid ${pid} left after the timeout`);

  const ac = new AbortController();
  const p = run('sh', ['-c', `echo $$ > ${pidFile}.2; exec sleep 30`], { signal: ac.signal });
  while (!(await fs.readFile(`${pidFile}.2`, 'utf8').catch(() => '')).endsWith('\n')) {
    await new Promise((r) => setTimeout(r, 10));
  }
  ac.abort();
  await assert.rejects(p, (e: unknown) => isKind(e, 'Cancelled'));
  const pid2 = Number(await fs.readFile(`${pidFile}.2`, 'utf8'));
  assert.ok(await waitGone(pid2), `pid ${pid2} left after the abort`);
});

it('passes any number of stdio fds, starts detached children in their own session and signals them', async () => {
  const c = await start('sh', ['-c', 'cat <&3 >&4; echo done'], { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
  const closed = new Promise((r) => c.once('close', r));
  assert.equal(await parentOf(c.pid!), theSpawner()?.pid());
  let fd4 = '';
  (c.stdio[4] as Readable).on('data', (d: Buffer) => {
    fd4 += d.toString();
  });
  let out = '';
  c.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  (c.stdio[3] as Writable).end('through fd 3\n');
  assert.deepEqual(await waitChild(c), { code: 0, signal: null });
  await closed;
  assert.equal(fd4, 'through fd 3\n');
  assert.equal(out, 'done\n');

  const d = await start('sleep', ['30'], { detached: true, stdio: ['ignore', 'ignore', 'ignore'] });
  const stat = await fs.readFile(`/proc/${d.pid}/stat`, 'utf8');
  assert.equal(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]), d.pid, 'its own session');
  assert.ok(d.kill('SIGTERM'));
  assert.deepEqual(await waitChild(d), { code: null, signal: 'SIGTERM' });
  assert.equal(d.kill('SIGKILL'), false, 'no signal once reaped');
});

// netns-connect tells success by closing stderr at once: that end must still be seen by a caller who listens
// as soon as start() resolves, although the spawner reports the child started only after it has exec'd.
it('holds a child’s output until start() has resolved, so an early end of stderr is not missed', async () => {
  for (let i = 0; i < 30; i++) {
    const c = await start('sh', ['-c', 'exec 2>&-; echo out; sleep 0.2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const stderr = c.stderr as Readable;
    stderr.resume();
    await new Promise((r) => stderr.once('close', r));
    assert.deepEqual(await waitChild(c), { code: 0, signal: null });
    assert.equal(out, 'out\n');
  }
});

it('a killed spawner fails what it had in flight, leaves its children running, and is replaced', async () => {
  const running = await start('sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore'] });
  const pending = run('sleep', ['30']);
  // Let the run start before the spawner goes.
  const pidBefore = theSpawner()?.pid();
  assert.ok(pidBefore);
  await new Promise((r) => setTimeout(r, 200));
  process.kill(pidBefore, 'SIGKILL');
  await assert.rejects(pending, (e: unknown) => {
    assert.ok(isKind(e, 'Unavailable'), String(e));
    assert.match((e as Error).message, /spawner died.*sleep 30/);
    return true;
  });
  assert.deepEqual(await waitChild(running), { code: null, signal: null });
  assert.ok(await exists(running.pid!), 'the child outlives its spawner');
  process.kill(running.pid!, 'SIGKILL'); // the child this test started, by its pid
  assert.ok(await waitGone(running.pid!));

  const r = await run('sh', ['-c', 'echo $PPID']);
  const pidAfter = theSpawner()?.pid();
  assert.ok(pidAfter && pidAfter !== pidBefore, 'a new spawner');
  assert.equal(Number(r.stdout), pidAfter);
});

it('refuses to run without the daemon’s channel and stops on a malformed request', async () => {
  const file = nativeHelper('spawner')!;
  const alone = nodeSpawn(file, [], { stdio: 'ignore' });
  assert.equal((await once(alone, 'exit'))[0], 2);
  const bad = nodeSpawn(file, [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  const refused = once(bad, 'message');
  // A relative working directory is refused, and the spawner goes on.
  const req = ['spawn', '1', '', 'iii', 'tmp', '/bin/true', '1', '/bin/true', '0'];
  bad.send(Buffer.from(req.map((f) => `${f}\0`).join('')).toString('base64'));
  assert.deepEqual((await refused)[0], { t: 'bad', id: 1 });
  bad.send('not base64!');
  assert.equal((await once(bad, 'exit'))[0], 2);
});
