/**
 * Exec, Attach and PortForward through ucri's streaming server, driven by test/streamprobe: a Go client
 * over Debian's spdystream and gorilla/websocket packages, independent of ucri's own code, speaking as
 * kubelet and crictl do. Real pods and containers (busybox) under a real `ucri serve`.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { buildStreamProbe, runStreamProbe, streamProbeJson } from '../support/probe.js';
import { type StdioOver, execUrl as sharedExecUrl } from '../support/stream-urls.js';
import { finishPodEnv, type PodEnv, podWithContainer, startPodEnv } from './pod-fixture.js';

let env: PodEnv;
let pod: { podSandboxId: string; containerId: string };

before(async () => {
  // Built first: a cold Go build can take longer than a token's one-minute life.
  await buildStreamProbe();
  env = await startPodEnv();
  // A server answering each connection with its first line, and one that resets every connection.
  // 8081 closes each connection without reading what was sent, so the kernel answers with a reset.
  // 8082 answers one line and closes its side, as a web server does after a response.
  const script = [
    ...['nc -ll -p 8080 -e cat &', 'nc -ll -p 8081 -e true &', 'nc -ll -p 8082 -e head -n 1 &'],
    'exec sleep 100000',
  ].join('\n');
  pod = await podWithContainer(env, script, 'streaming');
});

after(async () => {
  await finishPodEnv(env, true);
});

interface ExecSummary {
  protocol: string;
  stdout: string;
  stderr: string;
  status: string;
  httpStatus?: number;
}

function execUrl(cmd: string[], over: StdioOver = {}): Promise<string> {
  return sharedExecUrl(env.c, pod.containerId, cmd, over);
}

function probe(args: string[], stdin = ''): Promise<ExecSummary> {
  return streamProbeJson<ExecSummary>(args, stdin);
}

async function containerProcs(): Promise<string> {
  const r = await env.c.runtime.execSync({ containerId: pod.containerId, cmd: ['ps', '-o', 'args'], timeout: 10n });
  return r.stdout.toString();
}

describe('streaming over SPDY', () => {
  it('execs without a terminal: stdout and stderr apart, exit code 0 as Success', async () => {
    const r = await probe(['exec', await execUrl(['sh', '-c', 'echo hi; echo oops >&2'])]);
    assert.equal(r.protocol, 'v4.channel.k8s.io', JSON.stringify(r));
    assert.equal(r.stdout, 'hi\n');
    assert.equal(r.stderr, 'oops\n');
    assert.equal(JSON.parse(r.status).status, 'Success');
  });

  it('reports a non-zero exit code as NonZeroExitCode with the code', async () => {
    const r = await probe(['exec', await execUrl(['sh', '-c', 'exit 3'])]);
    const st = JSON.parse(r.status);
    assert.equal(st.status, 'Failure');
    assert.equal(st.reason, 'NonZeroExitCode');
    assert.deepEqual(st.details.causes, [{ reason: 'ExitCode', message: '3' }]);
  });

  it('feeds stdin until the client half-closes it', async () => {
    const r = await probe(['exec', await execUrl(['cat'], { stdin: true }), '-stdin'], 'data\nmore\n');
    assert.equal(r.stdout, 'data\nmore\n');
    assert.equal(JSON.parse(r.status).status, 'Success');
  });

  it('runs on a terminal sized by the resize stream', async () => {
    const url = await execUrl(['sh', '-c', 'sleep 0.3; stty size; exit 4'], { tty: true, stdin: true });
    const r = await probe(['exec', url, '-tty', '-stdin', '-resize', '111x33']);
    assert.match(r.stdout, /33 111/);
    assert.equal(r.stderr, '');
    assert.equal(JSON.parse(r.status).details.causes[0].message, '4');
  });

  it('speaks the older protocols when the client asks for them', async () => {
    const r = await probe(['exec', await execUrl(['sh', '-c', 'echo old; exit 2']), '-protocol', 'v2.channel.k8s.io']);
    assert.equal(r.protocol, 'v2.channel.k8s.io');
    assert.equal(r.stdout, 'old\n');
    assert.match(r.status, /non-zero exit code/);
  });

  it('refuses a used, unknown or expired token with 404', async () => {
    const url = await execUrl(['true']);
    assert.equal(JSON.parse((await probe(['exec', url])).status).status, 'Success');
    assert.equal((await probe(['exec', url])).httpStatus, 404);
    assert.equal((await probe(['exec', url.replace(/[^/]+$/, 'nosuchtoken')])).httpStatus, 404);
    const plain = await new Promise<number>((resolve, reject) => {
      http.get(url.replace(/\/exec\//, '/attach/'), (res) => resolve(res.statusCode ?? 0)).on('error', reject);
    });
    assert.equal(plain, 404);
  });

  it('kills and reaps the process tree of a client that vanishes mid-exec', async () => {
    const url = await execUrl(['sh', '-c', 'sleep 1234 & sleep 1235; echo never']);
    // The probe is SIGKILLed while its exec runs: its TCP connection drops without a word.
    const kill = new AbortController();
    const child = runStreamProbe(['exec', url], '', kill.signal);
    for (let i = 0; i < 100 && !(await containerProcs()).includes('sleep 1235'); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(await containerProcs(), /sleep 1234/);
    kill.abort();
    await child.catch(() => {});
    let left = '';
    for (let i = 0; i < 100; i++) {
      left = await containerProcs();
      if (!/sleep 123[45]/.test(left)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.doesNotMatch(left, /sleep 123[45]/);
  });
});

interface PfResult {
  index: number;
  port: string;
  data: string;
  error: string;
  errorTimeout?: boolean;
}

async function portForward(args: string[]): Promise<PfResult[]> {
  const { url } = await env.c.runtime.portForward({ podSandboxId: pod.podSandboxId, port: [] });
  return streamProbeJson<PfResult[]>(['pf', url, ...args]);
}

describe('port-forward over SPDY', () => {
  it('forwards 50 sequential connections, each answered', async () => {
    const results = await portForward(['-port', '8080', '-count', '50', '-parallel', '1', '-payload', 'seq']);
    assert.equal(results.length, 50);
    for (const r of results) assert.deepEqual([r.data, r.error], [`seq ${r.index}\n`, ''], `connection ${r.index}`);
  });

  // The failing third goes to 8081, which accepts and closes at once (a reset, as it reads nothing): each of
  // those pairs must end on its own, empty, while the others are answered. The error stream of a pair ends
  // only when its relay is over, so a pair that hangs hangs the probe and fails the test.
  it('keeps 10 parallel connections independent when a third of them are reset', async () => {
    const results = await portForward([
      ...['-port', '8080', '-alt-port', '8081', '-alt-every', '3'],
      ...['-count', '30', '-parallel', '10', '-payload', 'par'],
    ]);
    assert.equal(results.length, 30);
    for (const r of results) {
      if (r.port === '8080') assert.deepEqual([r.data, r.error], [`par ${r.index}\n`, ''], `connection ${r.index}`);
      else assert.equal(r.data, '', `reset connection ${r.index}`);
    }
  });

  // client-go (crictl, kubectl) keeps its data stream open until the server ends it, then waits for the
  // error stream to end before closing anything: the server must end the error stream once the target is done.
  it('ends the error stream once the target closed, while the client still holds its side open', async () => {
    const results = await portForward([
      '-port',
      '8082',
      '-count',
      '3',
      '-parallel',
      '1',
      '-payload',
      'open',
      '-keep-open',
    ]);
    for (const r of results) {
      assert.deepEqual(
        [r.data, r.error, r.errorTimeout],
        [`open ${r.index}\n`, '', undefined],
        `connection ${r.index}`,
      );
    }
  });

  it('reports a port nobody listens on on the error stream', async () => {
    const [r] = await portForward(['-port', '8099', '-count', '1', '-payload', 'x']);
    assert.match(r!.error, /8099.*(refused|cannot connect)/i);
  });
});

describe('attach over SPDY', () => {
  it('feeds stdin to a stdin_once container and streams its output until it exits', async () => {
    const c = await podWithContainer(env, 'cat', 'attached', { stdin: true, stdinOnce: true });
    const { url } = await env.c.runtime.attach({
      containerId: c.containerId,
      stdin: true,
      tty: false,
      stdout: true,
      stderr: true,
    });
    const r = await probe(['exec', url, '-stdin'], 'through attach\n');
    assert.equal(r.stdout, 'through attach\n');
    assert.equal(JSON.parse(r.status).status, 'Success');
  });
});
