/**
 * Pods and containers over the socket with real processes (runc + conmon): lifecycle and exit codes, CRI
 * logs at log_path (and that the file grows while the container runs, which `crictl logs -f` follows),
 * ExecSync with a timeout, stop with a grace timeout, idempotent stop/remove, a retried create getting the
 * same id, statuses, filters, stats, events, `ucri ps` and `ucri inspect`; no leftovers at the end.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { ContainerState, PodSandboxState, statusOf, grpc } from '../support/cri-client.js';
import { UCRI_MAIN } from '../support/daemon.js';
import {
  containerConfig,
  type PodEnv,
  podConfig,
  podWithContainer,
  startPodEnv,
  status,
  waitForState,
  finishPodEnv,
} from './pod-fixture.js';

const run = promisify(execFile);

/** `<RFC3339Nano> <stream> <P|F> <content>` */
const CRI_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) (stdout|stderr) (P|F) (.*)$/;

describe('pods and containers (e2e)', () => {
  let env: PodEnv;
  let ok = false;
  before(async () => {
    env = await startPodEnv();
  });
  after(() => finishPodEnv(env, ok));

  it('runs a container to its exit code and writes CRI logs at log_path', async () => {
    const { podSandboxId, containerId, config } = await podWithContainer(
      env,
      'echo out-line; echo err-line >&2; exit 3',
    );
    const pod = await env.c.runtime.podSandboxStatus({ podSandboxId, verbose: true });
    assert.equal(pod.status?.state, PodSandboxState.SANDBOX_READY);
    const prefix = env.subnet.split('.').slice(0, 3).join('.');
    assert.ok((pod.status?.network?.ip ?? '').startsWith(`${prefix}.`), pod.status?.network?.ip);
    assert.equal(pod.status?.metadata?.name, config.metadata?.name);
    assert.ok(JSON.parse(pod.info.info ?? '{}'));

    await waitForState(env, containerId, ContainerState.CONTAINER_EXITED);
    const st = (await status(env, containerId)).status!;
    assert.equal(st.exitCode, 3);
    assert.equal(st.reason, 'Error');
    assert.ok(st.createdAt > 0n);
    assert.ok(st.startedAt >= st.createdAt, `started ${st.startedAt} before created ${st.createdAt}`);
    assert.ok(st.finishedAt >= st.startedAt, `finished ${st.finishedAt} before started ${st.startedAt}`);
    assert.equal(st.logPath, `${config.logDirectory}/main.log`);
    assert.equal(st.imageId, env.imageId.startsWith('sha256:') ? env.imageId : st.imageId);
    const lines = (await fs.readFile(st.logPath, 'utf8')).trimEnd().split('\n');
    const parsed = lines.map((l) => CRI_LINE.exec(l)).map((m) => m && { stream: m[3], tag: m[4], text: m[5] });
    assert.deepEqual(parsed.map((p) => p && `${p.stream} ${p.tag} ${p.text}`).sort(), [
      'stderr F err-line',
      'stdout F out-line',
    ]);
  });

  it('keeps appending to the log while the container runs (crictl logs -f)', async () => {
    const { containerId } = await podWithContainer(
      env,
      'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done',
    );
    const st = (await status(env, containerId)).status!;
    // Follow the file like `crictl logs -f`: wait for a first line, then for a later one.
    const seen = async (pattern: RegExp) => {
      const ac = new AbortController();
      const events = fs.watch(path.dirname(st.logPath), { signal: ac.signal })[Symbol.asyncIterator]();
      try {
        for (;;) {
          const text = await fs.readFile(st.logPath, 'utf8').catch(() => '');
          if (pattern.test(text)) return;
          await events.next();
        }
      } finally {
        ac.abort();
      }
    };
    await seen(/ F tick 1\n/);
    await seen(/ F tick 3\n/);
    await env.c.runtime.reopenContainerLog({ containerId });
    await env.c.runtime.stopContainer({ containerId, timeout: 0n });
    const after = (await status(env, containerId)).status!;
    assert.equal(after.state, ContainerState.CONTAINER_EXITED);
    assert.notEqual(after.exitCode, 0);
    await assert.rejects(
      env.c.runtime.reopenContainerLog({ containerId }),
      (e) => statusOf(e) === grpc.status.FAILED_PRECONDITION,
    );
  });

  it('runs ExecSync with output, exit code and a timeout', async () => {
    const { containerId } = await podWithContainer(env, 'sleep 1000');
    const r = await env.c.runtime.execSync({
      containerId,
      cmd: ['sh', '-c', 'echo hi; echo oops >&2; exit 4'],
      timeout: 10n,
    });
    assert.equal(r.stdout.toString(), 'hi\n');
    assert.equal(r.stderr.toString(), 'oops\n');
    assert.equal(r.exitCode, 4);
    await assert.rejects(
      env.c.runtime.execSync({ containerId, cmd: ['sleep', '30'], timeout: 1n }),
      (e) => statusOf(e) === grpc.status.DEADLINE_EXCEEDED,
    );
  });

  it('stops with the grace timeout: SIGTERM first, SIGKILL when ignored; stop and remove are idempotent', async () => {
    // The shell marks /tmp/trapped once its trap is installed, and the test stops the container only after
    // seeing the mark: a SIGTERM that came earlier would be ignored (sh is pid 1) and end in SIGKILL (137).
    const untilTrapped = async (containerId: string): Promise<void> => {
      const wait = 'until [ -e /tmp/trapped ]; do sleep 0.05; done';
      const r = await env.c.runtime.execSync({ containerId, cmd: ['sh', '-c', wait], timeout: 60n });
      assert.equal(r.exitCode, 0, 'the trap mark appeared');
    };
    const polite = await podWithContainer(
      env,
      'trap "exit 0" TERM; touch /tmp/trapped; while true; do sleep 0.1; done',
    );
    await untilTrapped(polite.containerId);
    await env.c.runtime.stopContainer({ containerId: polite.containerId, timeout: 30n });
    assert.equal((await status(env, polite.containerId)).status?.exitCode, 0, 'the TERM trap ran');

    const stubborn = await podWithContainer(env, 'trap "" TERM; touch /tmp/trapped; while true; do sleep 0.1; done');
    await untilTrapped(stubborn.containerId);
    await env.c.runtime.stopContainer({ containerId: stubborn.containerId, timeout: 1n });
    const st = (await status(env, stubborn.containerId)).status!;
    assert.equal(st.state, ContainerState.CONTAINER_EXITED);
    assert.equal(st.exitCode, 137, 'killed by SIGKILL after the timeout');

    await env.c.runtime.stopContainer({ containerId: stubborn.containerId, timeout: 1n });
    await env.c.runtime.removeContainer({ containerId: stubborn.containerId });
    await env.c.runtime.removeContainer({ containerId: stubborn.containerId });
    await assert.rejects(status(env, stubborn.containerId), (e) => statusOf(e) === grpc.status.NOT_FOUND);
    await env.c.runtime.stopPodSandbox({ podSandboxId: stubborn.podSandboxId });
    await env.c.runtime.stopPodSandbox({ podSandboxId: stubborn.podSandboxId });
    await env.c.runtime.removePodSandbox({ podSandboxId: stubborn.podSandboxId });
    await env.c.runtime.removePodSandbox({ podSandboxId: stubborn.podSandboxId });
  });

  it('returns the same id for a retried create and refuses creates in a stopped pod', async () => {
    const config = podConfig(env);
    const a = await env.c.runtime.runPodSandbox({ config, runtimeHandler: '' });
    const b = await env.c.runtime.runPodSandbox({ config, runtimeHandler: '' });
    assert.equal(a.podSandboxId, b.podSandboxId);
    const cc = containerConfig(env, 'retry', 'sleep 1000');
    const [x, y] = await Promise.all([
      env.c.runtime.createContainer({ podSandboxId: a.podSandboxId, config: cc, sandboxConfig: config }),
      env.c.runtime.createContainer({ podSandboxId: a.podSandboxId, config: cc, sandboxConfig: config }),
    ]);
    assert.equal(x.containerId, y.containerId);
    const other = containerConfig(env, 'retry', 'sleep 5');
    await assert.rejects(
      env.c.runtime.createContainer({ podSandboxId: a.podSandboxId, config: other, sandboxConfig: config }),
      (e) => statusOf(e) === grpc.status.ALREADY_EXISTS,
    );
    await assert.rejects(
      env.c.runtime.createContainer({
        podSandboxId: a.podSandboxId,
        config: containerConfig(env, 'noimage', 'true', {
          image: {
            image: '127.0.0.1:1/none:1',
            annotations: {},
            userSpecifiedImage: '',
            runtimeHandler: '',
            imageRef: '',
          },
        }),
        sandboxConfig: config,
      }),
      (e) => statusOf(e) === grpc.status.NOT_FOUND,
    );
    await env.c.runtime.stopPodSandbox({ podSandboxId: a.podSandboxId });
    const pod = await env.c.runtime.podSandboxStatus({ podSandboxId: a.podSandboxId, verbose: false });
    assert.equal(pod.status?.state, PodSandboxState.SANDBOX_NOTREADY);
    await assert.rejects(
      env.c.runtime.createContainer({
        podSandboxId: a.podSandboxId,
        config: containerConfig(env, 'late', 'true'),
        sandboxConfig: config,
      }),
      (e) => statusOf(e) === grpc.status.FAILED_PRECONDITION,
    );
    await env.c.runtime.removePodSandbox({ podSandboxId: a.podSandboxId });
  });

  it('lists with filters, reports stats, and shows containers in ucri ps / ucri inspect', async () => {
    const { podSandboxId, containerId } = await podWithContainer(env, 'sleep 1000');
    const byPod = await env.c.runtime.listContainers({
      filter: {
        id: '',
        state: { state: ContainerState.CONTAINER_RUNNING },
        podSandboxId,
        labelSelector: { 'e2e-container': 'main' },
      },
    });
    assert.deepEqual(
      byPod.containers.map((c) => c.id),
      [containerId],
    );
    const pods = await env.c.runtime.listPodSandbox({
      filter: { id: podSandboxId.slice(0, 10), state: undefined, labelSelector: {} },
    });
    assert.deepEqual(
      pods.items.map((p) => p.id),
      [podSandboxId],
    );

    const cs = await env.c.runtime.containerStats({ containerId });
    assert.ok((cs.stats?.memory?.workingSetBytes?.value ?? 0n) > 0n, 'memory working set from the cgroup');
    assert.ok(cs.stats?.cpu?.usageCoreNanoSeconds !== undefined);
    const ps = await env.c.runtime.listPodSandboxStats({ filter: { id: podSandboxId, labelSelector: {} } });
    assert.equal(ps.stats.length, 1);
    assert.deepEqual(
      ps.stats[0]?.linux?.containers.map((c) => c.attributes?.id),
      [containerId],
    );

    const { stdout } = await run(process.execPath, [UCRI_MAIN, 'ps', `--socket=${env.d.socket}`]);
    const header = stdout.split('\n')[0]!;
    assert.match(header, /^CONTAINER\s+IMAGE\s+CREATED\s+STATE\s+NAME\s+ATTEMPT\s+POD ID\s+RUNTIME$/);
    const row = stdout.split('\n').find((l) => l.startsWith(containerId.slice(0, 13)));
    assert.ok(row, `ucri ps shows the container:\n${stdout}`);
    assert.match(row, /Running\s+main\s+0\s+/);
    assert.ok(row.endsWith(`${podSandboxId.slice(0, 13)}   mesos`), row);

    const inspect = await run(process.execPath, [
      UCRI_MAIN,
      'inspect',
      `--socket=${env.d.socket}`,
      containerId.slice(0, 16),
    ]);
    const doc = JSON.parse(inspect.stdout) as {
      status: { id: string; state: string };
      info: { info: { pid: number; mesosState: string; sandboxID: string; containerizer: string } };
    };
    assert.equal(doc.status.id, containerId);
    assert.equal(doc.status.state, 'CONTAINER_RUNNING');
    assert.ok(doc.info.info.pid > 0);
    assert.equal(doc.info.info.sandboxID, podSandboxId);
    assert.equal(doc.info.info.mesosState, 'RUNNING');
    assert.equal(doc.info.info.containerizer, 'mesos');

    await assert.rejects(
      run(process.execPath, [UCRI_MAIN, 'inspect', `--socket=${env.d.socket}`, 'f'.repeat(64)]),
      /not found/,
    );
    ok = true;
  });
});
