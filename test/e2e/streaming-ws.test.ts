/**
 * Exec, Attach and PortForward over WebSocket, driven by test/streamprobe (Go, gorilla/websocket and
 * spdystream from Debian, independent of ucri's code): the channel protocols v5, v4, the pre-v4 one and
 * their base64 variants, the v5 close signal for stdin, port-forward with channel pairs and with SPDY
 * tunnelled in the WebSocket. Real pods and containers (busybox) under a real `ucri serve`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildStreamProbe, runStreamProbe, streamProbeJson } from '../support/probe.js';
import { attachUrl, execUrl, type StdioOver } from '../support/stream-urls.js';
import { finishPodEnv, type PodEnv, podWithContainer, startPodEnv } from './pod-fixture.js';

let env: PodEnv;
let pod: { podSandboxId: string; containerId: string };

before(async () => {
  await buildStreamProbe();
  env = await startPodEnv();
  // 8080 echoes until the client closes; 8082 answers one line and closes (a WebSocket channel cannot be
  // half-closed by the client, so the target must end the connection).
  const script = ['nc -ll -p 8080 -e cat &', 'nc -ll -p 8082 -e head -n 1 &', 'exec sleep 100000'].join('\n');
  pod = await podWithContainer(env, script, 'streaming-ws');
});

after(async () => {
  await finishPodEnv(env, true);
});

interface ExecSummary {
  protocol: string;
  stdout: string;
  stderr: string;
  status: string;
  firstChannel: number;
  httpStatus?: number;
}

async function wsExec(cmd: string[], args: string[] = [], over: StdioOver = {}, stdin = ''): Promise<ExecSummary> {
  const url = await execUrl(env.c, pod.containerId, cmd, over);
  return streamProbeJson<ExecSummary>(['ws-exec', url, ...args], stdin);
}

function exitCode(status: string): string | undefined {
  const st = JSON.parse(status);
  return st.status === 'Success' ? undefined : st.details.causes[0].message;
}

describe('exec over WebSocket', () => {
  it('v5: stdin half-closed by the close signal, stdout and stderr apart, the exit code', async () => {
    const cmd = ['sh', '-c', 'cat; echo oops >&2; exit 3'];
    const r = await wsExec(cmd, ['-stdin'], { stdin: true }, 'data\nmore\n');
    assert.equal(r.protocol, 'v5.channel.k8s.io');
    assert.equal(r.firstChannel, 1, 'the session opens with an empty message on stdout');
    assert.equal(r.stdout, 'data\nmore\n');
    assert.equal(r.stderr, 'oops\n');
    assert.equal(JSON.parse(r.status).reason, 'NonZeroExitCode');
    assert.equal(exitCode(r.status), '3');
  });

  it('v4: the exit status as a Status on the error channel', async () => {
    const r = await wsExec(['sh', '-c', 'echo four; exit 2'], ['-protocol', 'v4.channel.k8s.io']);
    assert.equal(r.protocol, 'v4.channel.k8s.io');
    assert.equal(r.stdout, 'four\n');
    assert.equal(exitCode(r.status), '2');
    const ok = await wsExec(['true'], ['-protocol', 'v4.channel.k8s.io']);
    assert.equal(JSON.parse(ok.status).status, 'Success');
  });

  it('base64 variants: text messages, v4 Status or the plain pre-v4 error text', async () => {
    const cmd = ['sh', '-c', 'printf "\\001\\377bin"; echo err >&2; exit 5'];
    const v4 = await wsExec(cmd, ['-protocol', 'v4.base64.channel.k8s.io']);
    assert.equal(v4.protocol, 'v4.base64.channel.k8s.io');
    assert.equal(Buffer.from(v4.stdout, 'latin1').length > 0, true);
    assert.match(v4.stdout, /bin$/);
    assert.equal(v4.stderr, 'err\n');
    assert.equal(exitCode(v4.status), '5');
    const v1 = await wsExec(cmd, ['-protocol', 'base64.channel.k8s.io']);
    assert.equal(v1.protocol, 'base64.channel.k8s.io');
    assert.equal(v1.stderr, 'err\n');
    assert.match(v1.status, /non-zero exit code: exit code 5/);
  });

  it('channel.k8s.io: nothing on the error channel for success', async () => {
    const r = await wsExec(['echo', 'one'], ['-protocol', 'channel.k8s.io']);
    assert.equal(r.protocol, 'channel.k8s.io');
    assert.equal(r.stdout, 'one\n');
    assert.equal(r.status, '');
  });

  it('runs on a terminal sized by the resize channel', async () => {
    const r = await wsExec(['sh', '-c', 'sleep 0.3; stty size'], ['-resize', '111x33'], { tty: true });
    assert.match(r.stdout, /33 111/);
    assert.equal(JSON.parse(r.status).status, 'Success');
  });

  it('kills and reaps the process tree of a client that vanishes mid-exec', async () => {
    const url = await execUrl(env.c, pod.containerId, ['sh', '-c', 'sleep 2234 & sleep 2235; echo never']);
    const kill = new AbortController();
    const child = runStreamProbe(['ws-exec', url], '', kill.signal);
    const procs = async (): Promise<string> =>
      (
        await env.c.runtime.execSync({ containerId: pod.containerId, cmd: ['ps', '-o', 'args'], timeout: 10n })
      ).stdout.toString();
    for (let i = 0; i < 100 && !(await procs()).includes('sleep 2235'); i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.match(await procs(), /sleep 2234/);
    // SIGKILL: the TCP connection drops with no close frame.
    kill.abort();
    await child.catch(() => {});
    let left = '';
    for (let i = 0; i < 100; i++) {
      left = await procs();
      if (!/sleep 223[45]/.test(left)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.doesNotMatch(left, /sleep 223[45]/);
  });

  it('refuses a protocol it does not serve with 400', async () => {
    const r = await wsExec(['true'], ['-protocol', 'v9.channel.k8s.io']);
    assert.equal(r.httpStatus, 400);
  });
});

describe('attach over WebSocket', () => {
  it('feeds stdin to a stdin_once container until the v5 close signal and streams its output', async () => {
    const c = await podWithContainer(env, 'cat', 'ws-attached', { stdin: true, stdinOnce: true });
    const url = await attachUrl(env.c, c.containerId, { stdin: true });
    const s = await streamProbeJson<ExecSummary>(['ws-exec', url, '-stdin'], 'through ws attach\n');
    assert.equal(s.stdout, 'through ws attach\n');
    assert.equal(JSON.parse(s.status).status, 'Success');
  });
});

interface PfChannel {
  port: number;
  data: string;
  error: string;
}

interface PfResult {
  index: number;
  port: string;
  data: string;
  error: string;
}

describe('port-forward over WebSocket', () => {
  for (const protocol of ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io']) {
    it(`${protocol}: a channel pair per port, each opened with its port`, async () => {
      const { url } = await env.c.runtime.portForward({ podSandboxId: pod.podSandboxId, port: [] });
      const [a, b, c] = await streamProbeJson<PfChannel[]>([
        ...['ws-pf', `${url}?port=8082&port=8082,8099`],
        ...['-payload', 'ws', '-protocol', protocol],
      ]);
      assert.deepEqual(a, { port: 8082, data: 'ws 0\n', error: '' });
      assert.deepEqual(b, { port: 8082, data: 'ws 1\n', error: '' });
      assert.equal(c!.port, 8099);
      assert.match(c!.error, /8099.*(refused|cannot connect)/i);
    });
  }

  it('refuses a channel port-forward without ports with 400', async () => {
    const { url } = await env.c.runtime.portForward({ podSandboxId: pod.podSandboxId, port: [] });
    const r = await streamProbeJson<{ httpStatus?: number }>(['ws-pf', url, '-payload', 'x']);
    assert.equal(r.httpStatus, 400);
  });

  it('serves SPDY tunnelled in the WebSocket: 10 parallel connections', async () => {
    const { url } = await env.c.runtime.portForward({ podSandboxId: pod.podSandboxId, port: [] });
    const results = await streamProbeJson<PfResult[]>([
      ...['ws-spdy-pf', url, '-port', '8080'],
      ...['-count', '20', '-parallel', '10', '-payload', 'tun'],
    ]);
    assert.equal(results.length, 20, JSON.stringify(results));
    for (const x of results) assert.deepEqual([x.data, x.error], [`tun ${x.index}\n`, ''], `connection ${x.index}`);
  });
});
