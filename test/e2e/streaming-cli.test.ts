/**
 * `ucri exec`, `ucri attach` and `ucri port-forward` against a real `ucri serve`: the CLI asks for the
 * streaming URL over the CRI socket and speaks SPDY to it. Terminal behaviour (`-t`) runs under
 * `script`, which gives the CLI a real pseudo-terminal of a set size.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { UCRI_MAIN } from '../support/daemon.js';
import { finishPodEnv, type PodEnv, podWithContainer, startPodEnv } from './pod-fixture.js';

let env: PodEnv;
let pod: { podSandboxId: string; containerId: string };

before(async () => {
  env = await startPodEnv();
  const script = [
    'nc -ll -p 8080 -e cat &',
    'mkdir -p /www && echo "hello from httpd" > /www/index.html && httpd -p 8081 -h /www',
    'exec sleep 100000',
  ].join('\n');
  pod = await podWithContainer(env, script, 'streaming-cli');
});

after(async () => {
  await finishPodEnv(env, true);
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ucri VERB --socket S ARGS…` with `stdin`; never rejects on a non-zero exit. */
function ucri(verb: string, args: string[], stdin = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [UCRI_MAIN, verb, `--socket=${env.d.socket}`, ...args],
      { timeout: 60_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') reject(err);
        else resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
    child.stdin?.end(stdin);
  });
}

/** Runs a shell command line under `script`, on a pseudo-terminal; the output is what the terminal got. */
function onTerminal(line: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    // script's own stdin stays open (a pipe nobody writes): it runs until the command exits.
    execFile('script', ['-qec', line, '/dev/null'], { timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(err);
      else resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

describe('ucri exec and attach', () => {
  it('exec: stdout and stderr apart, the remote exit code as its own', async () => {
    const r = await ucri('exec', [pod.containerId, 'sh', '-c', 'echo hi; echo oops >&2; exit 3']);
    assert.deepEqual(r, { code: 3, stdout: 'hi\n', stderr: 'oops\n' });
  });

  it('exec accepts a unique id prefix and passes flags after the id to the command', async () => {
    const r = await ucri('exec', [pod.containerId.slice(0, 12), 'ls', '-d', '/www']);
    assert.deepEqual(r, { code: 0, stdout: '/www\n', stderr: '' });
  });

  it('exec -i: stdin until its end', async () => {
    const r = await ucri('exec', ['-i', pod.containerId, 'cat'], 'data\nmore\n');
    assert.deepEqual(r, { code: 0, stdout: 'data\nmore\n', stderr: '' });
  });

  it('exec -t on a terminal: the terminal size, one \\r per line, the exit code', async () => {
    const cmd = `${process.execPath} ${UCRI_MAIN} exec -it --socket=${env.d.socket} ${pod.containerId}`;
    // The first size may reach the terminal after the command started: it waits for one.
    const r = await onTerminal(
      `stty rows 33 cols 111; ${cmd} sh -c 'until s=$(stty size 2>/dev/null) && [ -n "$s" ]; do sleep 0.1; done; echo $s; echo hi; exit 4'`,
    );
    assert.match(r.stdout, /33 111\r\n/);
    assert.match(r.stdout, /hi\r\n/);
    assert.doesNotMatch(r.stdout, /\r\r\n/);
    assert.equal(r.code, 4);
  });

  it('attach -i: feeds a stdin_once container and streams its output until it exits', async () => {
    const c = await podWithContainer(env, 'cat', 'cli-attached', { stdin: true, stdinOnce: true });
    const r = await ucri('attach', ['-i', c.containerId], 'through ucri attach\n');
    assert.deepEqual(r, { code: 0, stdout: 'through ucri attach\n', stderr: '' });
  });

  it('refuses an exec without a command', async () => {
    const r = await ucri('exec', [pod.containerId]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /usage: ucri exec/);
  });
});

/** Starts `ucri port-forward` and resolves once it prints the local port. */
async function portForward(
  spec: string,
): Promise<{ child: ChildProcess; port: number; exited: Promise<number>; output: () => string }> {
  const child = spawn(
    process.execPath,
    [UCRI_MAIN, 'port-forward', `--socket=${env.d.socket}`, pod.podSandboxId, spec],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
  let out = '';
  child.stderr!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    void exited.then(() => reject(new Error(`ucri port-forward exited:\n${out}`)));
  });
  return { child, port, exited, output: () => out };
}

function echoThrough(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(text));
    let got = '';
    s.on('data', (c: Buffer) => {
      got += c.toString();
    });
    s.on('error', reject);
    s.on('close', () => resolve(got));
  });
}

describe('ucri port-forward', () => {
  it('forwards connections one after another and at once, then stops on SIGINT', async () => {
    const pf = await portForward('0:8080');
    try {
      assert.equal(await echoThrough(pf.port, 'first\n'), 'first\n', pf.output());
      assert.equal(await echoThrough(pf.port, 'second\n'), 'second\n');
      const all = await Promise.all([1, 2, 3, 4, 5].map((i) => echoThrough(pf.port, `par ${i}\n`)));
      assert.deepEqual(
        all,
        [1, 2, 3, 4, 5].map((i) => `par ${i}\n`),
      );
    } finally {
      pf.child.kill('SIGINT');
    }
    assert.equal(await pf.exited, 0);
  });

  it('serves HTTP from busybox httpd in the pod', async () => {
    const pf = await portForward('0:8081');
    try {
      for (let i = 0; i < 3; i++) {
        const body = await new Promise<string>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port: pf.port, path: '/', agent: false }, (res) => {
              let b = '';
              res.on('data', (c: Buffer) => {
                b += c.toString();
              });
              res.on('end', () => resolve(b));
            })
            .on('error', reject);
        });
        assert.equal(body, 'hello from httpd\n');
      }
    } finally {
      pf.child.kill('SIGINT');
    }
    await pf.exited;
  });
});
