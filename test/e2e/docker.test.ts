/**
 * The Docker containerizer against a real dockerd that this test starts itself (own data/exec root, socket
 * and cgroup parent, `--live-restore`), composed with the Mesos containerizer in one `ucri serve
 * --containerizers=mesos,docker`: runtime handlers in Status, a docker pod's lifecycle through the CRI (CNI
 * address, hosts file, labels, exit codes, OOMKilled, CRI logs, ExecSync, stats, UpdateContainerResources),
 * merged listings with a Mesos pod next to it, dockerd down (UNAVAILABLE naming the socket while Mesos pods
 * still run) and restarted (a container that lived through it is reported running, then its exit; without
 * `--live-restore`, the exit code of the container dockerd stopped and a NOTREADY pod), ucri restarted (docker
 * pods recovered by label, logs resumed without loss or duplicates), and ucri started while dockerd is down
 * (no `docker` handler, containers UNKNOWN, recovery completed once dockerd answers).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { DockerClient, EngineApi, LABELS } from '../../pkg/docker/index.js';
import {
  ContainerState,
  grpc,
  PodSandboxState,
  statusOf,
  UpdateContainerResourcesRequest,
} from '../support/cri-client.js';
import { UCRI_MAIN } from '../support/daemon.js';
import { startDockerd, type TestDockerd } from '../support/dockerd.js';
import {
  containerConfig,
  finishPodEnv,
  type PodEnv,
  podConfig,
  startPodEnv,
  status,
  waitForState,
} from './pod-fixture.js';

const run = promisify(execFile);
const CRI_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) (stdout|stderr) (P|F) (.*)$/;

describe('docker containerizer (e2e, real dockerd)', () => {
  let dockerd: TestDockerd;
  let env: PodEnv;
  let api: EngineApi;
  let ok = false;

  before(async () => {
    dockerd = await startDockerd({ liveRestore: true });
    api = new EngineApi(new DockerClient(dockerd.socket));
    env = await startPodEnv([], (_reg, images) => [
      '--containerizers=docker,mesos',
      `--docker_socket=${dockerd.socket}`,
      `--pause_image=${images['busybox-pause'].ref}`,
    ]);
  });
  after(async () => {
    try {
      await finishPodEnv(env, ok);
      if (ok) {
        const left = await api.listContainers([LABELS.pod]);
        assert.deepEqual(left, [], 'docker containers left behind');
      }
    } finally {
      await api.client.close();
      await dockerd.cleanup();
    }
  });

  async function dockerPod(name: string) {
    const config = podConfig(env, name);
    const { podSandboxId } = await env.c.runtime.runPodSandbox({ config, runtimeHandler: 'docker' });
    return { podSandboxId, config };
  }

  async function dockerContainer(
    podSandboxId: string,
    config: ReturnType<typeof podConfig>,
    name: string,
    script: string,
    over = {},
  ) {
    const { containerId } = await env.c.runtime.createContainer({
      podSandboxId,
      config: containerConfig(env, name, script, over),
      sandboxConfig: config,
    });
    await env.c.runtime.startContainer({ containerId });
    return containerId;
  }

  async function criLog(file: string): Promise<Array<{ stream: string; tag: string; text: string }>> {
    const text = await fs.readFile(file, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => {
        const m = CRI_LINE.exec(l);
        assert.ok(m, `not a CRI log line: ${JSON.stringify(l)}`);
        return { stream: m[3]!, tag: m[4]!, text: m[5]! };
      });
  }

  it('lists mesos and docker runtime handlers while dockerd answers', async () => {
    const s = await env.c.runtime.status({ verbose: false });
    assert.deepEqual(
      s.runtimeHandlers.map((h) => h.name),
      ['', 'mesos', 'docker'],
    );
  });

  it('runs a docker pod: CNI address, hosts, labels, exit code, CRI logs, exec, stats, update', async () => {
    const { podSandboxId, config } = await dockerPod('dk1');
    const pod = await env.c.runtime.podSandboxStatus({ podSandboxId, verbose: true });
    assert.equal(pod.status?.state, PodSandboxState.SANDBOX_READY);
    assert.equal(pod.status?.runtimeHandler, 'docker');
    const ip = pod.status?.network?.ip ?? '';
    assert.ok(ip.startsWith(`${env.subnet.split('.').slice(0, 3).join('.')}.`), ip);

    const id = await dockerContainer(
      podSandboxId,
      config,
      'main',
      'echo out-line; echo err-line >&2; head -c 20000 /dev/zero | tr "\\0" x; echo; hostname; grep dk1 /etc/hosts; ip -4 addr show eth0 | grep inet; sleep 300',
    );
    const st = (await status(env, id)).status!;
    assert.equal(st.state, ContainerState.CONTAINER_RUNNING);

    // The container carries the pod and CRI ids as labels.
    const [summary] = await api.listContainers([`${LABELS.container}=${id}`]);
    assert.equal(summary?.Labels?.[LABELS.pod], podSandboxId);

    const exec = await env.c.runtime.execSync({ containerId: id, cmd: ['sh', '-c', 'echo hi; exit 4'], timeout: 10n });
    assert.equal(exec.exitCode, 4);
    assert.equal(Buffer.from(exec.stdout).toString(), 'hi\n');

    // Logs: every line in CRI format, the partial line tagged P.
    let lines: Awaited<ReturnType<typeof criLog>> = [];
    for (let i = 0; i < 100 && !lines.some((l) => l.text.includes('inet')); i++) {
      await sleep(100);
      lines = await criLog(st.logPath);
    }
    // dockerd copies stdout and stderr separately: their relative order is not kept, so each stream is checked
    // on its own. dockerd splits lines longer than 16 KiB: the first part is tagged P, the end of the line F.
    assert.deepEqual(
      lines.filter((l) => l.stream === 'stderr').map((l) => [l.tag, l.text]),
      [['F', 'err-line']],
    );
    assert.deepEqual(
      lines
        .filter((l) => l.stream === 'stdout')
        .slice(0, 3)
        .map((l) => [l.tag, l.tag === 'F' && l.text.length < 100 ? l.text : l.text.length]),
      [
        ['F', 'out-line'],
        ['P', 16384],
        ['F', 20000 - 16384],
      ],
    );
    assert.ok(
      lines.some((l) => l.text.includes(`${ip}\tdk1`)),
      'hosts file names the pod address',
    );
    assert.ok(
      lines.some((l) => l.text.includes(`inet ${ip}/`)),
      'eth0 has the CNI address',
    );

    const stats = await env.c.runtime.containerStats({ containerId: id });
    assert.ok((stats.stats?.memory?.workingSetBytes?.value ?? 0n) > 0n);

    await env.c.runtime.updateContainerResources(
      UpdateContainerResourcesRequest.fromPartial({
        containerId: id,
        linux: { memoryLimitInBytes: 64n << 20n, cpuShares: 256n },
      }),
    );
    const info = await api.inspectContainer(summary!.Id);
    const cgroups = await fs.readFile(`/proc/${info.State.Pid}/cgroup`, 'utf8');
    const memPath =
      cgroups
        .split('\n')
        .find((l) => l.split(':')[1] === 'memory')
        ?.split(':')[2] ?? '';
    const limit = await fs.readFile(path.join('/sys/fs/cgroup/memory', memPath, 'memory.limit_in_bytes'), 'utf8');
    assert.equal(limit.trim(), String(64 << 20));

    await env.c.runtime.stopContainer({ containerId: id, timeout: 0n });
    const stopped = (await status(env, id)).status!;
    assert.equal(stopped.state, ContainerState.CONTAINER_EXITED);
    assert.equal(stopped.exitCode, 137);

    const failing = await dockerContainer(podSandboxId, config, 'fails', 'exit 3');
    await waitForState(env, failing, ContainerState.CONTAINER_EXITED);
    const f = (await status(env, failing)).status!;
    assert.equal(f.exitCode, 3);
    assert.equal(f.reason, 'Error');
  });

  it('reports OOMKilled for a docker container over its memory limit', async () => {
    const { podSandboxId, config } = await dockerPod('dkoom');
    const id = await dockerContainer(podSandboxId, config, 'hog', 'head -c 200000000 /dev/zero | tail', {
      linux: {
        resources: { memoryLimitInBytes: 16n << 20n },
        securityContext: { namespaceOptions: { network: 0, pid: 1, ipc: 0, targetId: '' } },
      },
    });
    await waitForState(env, id, ContainerState.CONTAINER_EXITED);
    const st = (await status(env, id)).status!;
    assert.equal(st.reason, 'OOMKilled');
  });

  it('merges listings of both containerizers and marks each with its handler', async () => {
    const mesosCfg = podConfig(env, 'ms1');
    const { podSandboxId: mesosPod } = await env.c.runtime.runPodSandbox({ config: mesosCfg, runtimeHandler: '' });
    const { items } = await env.c.runtime.listPodSandbox({ filter: undefined });
    const handlers = new Map(items.map((p) => [p.id, p.runtimeHandler]));
    assert.equal(handlers.get(mesosPod), 'mesos');
    assert.ok([...handlers.values()].includes('docker'));
    const { containers } = await env.c.runtime.listContainers({ filter: undefined });
    assert.ok(containers.length >= 2);
    // `ucri ps` names each container's runtime handler, `ucri inspect` its containerizer.
    const docker = containers.find((c) => c.image?.runtimeHandler === 'docker')!;
    const { stdout } = await run(process.execPath, [UCRI_MAIN, 'ps', `--socket=${env.d.socket}`]);
    const row = stdout.split('\n').find((l) => l.startsWith(docker.id.slice(0, 13)));
    assert.ok(row?.endsWith('docker'), stdout);
    const inspect = await run(process.execPath, [UCRI_MAIN, 'inspect', `--socket=${env.d.socket}`, docker.id]);
    const doc = JSON.parse(inspect.stdout) as { info: { info: { containerizer: string } } };
    assert.equal(doc.info.info.containerizer, 'docker');
  });

  it('fails docker pods with UNAVAILABLE naming the socket while dockerd is down; mesos keeps working', async () => {
    const { podSandboxId, config } = await dockerPod('dkrestart');
    const id = await dockerContainer(
      podSandboxId,
      config,
      'lives',
      'i=0; while :; do echo tick-$i; i=$((i+1)); sleep 0.2; done',
    );
    await dockerd.stop();
    try {
      const s = await env.c.runtime.status({ verbose: false });
      assert.deepEqual(
        s.runtimeHandlers.map((h) => h.name),
        ['', 'mesos'],
      );
      await assert.rejects(
        env.c.runtime.runPodSandbox({ config: podConfig(env, 'dkdown'), runtimeHandler: 'docker' }),
        (err: unknown) => statusOf(err) === grpc.status.UNAVAILABLE && String(err).includes(dockerd.socket),
      );
      // A Mesos pod with a container still runs without any daemon.
      const mcfg = podConfig(env, 'msdown');
      const { podSandboxId: mp } = await env.c.runtime.runPodSandbox({ config: mcfg, runtimeHandler: 'mesos' });
      const { containerId: mc } = await env.c.runtime.createContainer({
        podSandboxId: mp,
        config: containerConfig(env, 'm', 'exit 0'),
        sandboxConfig: mcfg,
      });
      await env.c.runtime.startContainer({ containerId: mc });
      await waitForState(env, mc, ContainerState.CONTAINER_EXITED);
    } finally {
      await dockerd.start();
    }
    // --live-restore: the container lived through the restart and is still reported running.
    assert.equal((await status(env, id)).status?.state, ContainerState.CONTAINER_RUNNING);
    const [summary] = await api.listContainers([`${LABELS.container}=${id}`]);
    await api.killContainer(summary!.Id, 'SIGKILL');
    await waitForState(env, id, ContainerState.CONTAINER_EXITED);
    assert.equal((await status(env, id)).status?.exitCode, 137);
  });

  it('recovers docker pods by label after a ucri restart, logs resumed without loss or duplicates', async () => {
    const { podSandboxId, config } = await dockerPod('dkucri');
    const id = await dockerContainer(
      podSandboxId,
      config,
      'counter',
      'i=0; while [ $i -lt 60 ]; do echo n-$i; i=$((i+1)); sleep 0.05; done; sleep 300',
    );
    const logPath = (await status(env, id)).status!.logPath;
    await sleep(500);
    await env.d.stop();
    await sleep(1000); // the container keeps writing while ucri is away
    await env.restart();
    assert.equal((await status(env, id)).status?.state, ContainerState.CONTAINER_RUNNING);
    const pod = await env.c.runtime.podSandboxStatus({ podSandboxId, verbose: false });
    assert.equal(pod.status?.state, PodSandboxState.SANDBOX_READY);
    let lines: Awaited<ReturnType<typeof criLog>> = [];
    for (let i = 0; i < 100; i++) {
      lines = await criLog(logPath);
      if (lines.some((l) => l.text === 'n-59')) break;
      await sleep(100);
    }
    assert.deepEqual(
      lines.map((l) => l.text),
      Array.from({ length: 60 }, (_, i) => `n-${i}`),
    );
  });

  /** Polls (no timing asserted) until `check` holds; fails with the last value after `ms`. */
  async function until<T>(what: string, get: () => Promise<T>, check: (v: T) => boolean, ms = 60_000): Promise<T> {
    const end = Date.now() + ms;
    let v = await get();
    while (!check(v)) {
      if (Date.now() > end)
        assert.fail(`${what}: still ${JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x))}`);
      await sleep(200);
      v = await get();
    }
    return v;
  }

  it('starts while dockerd is down: no docker handler, containers UNKNOWN, recovered once dockerd answers', async () => {
    const { podSandboxId, config } = await dockerPod('dkcold');
    const id = await dockerContainer(podSandboxId, config, 'waits', 'sleep 300');
    await env.d.stop();
    await dockerd.stop(); // --live-restore: the container keeps running without dockerd
    try {
      await env.restart();
      const s = await env.c.runtime.status({ verbose: false });
      assert.deepEqual(
        s.runtimeHandlers.map((h) => h.name),
        ['', 'mesos'],
      );
      assert.equal((await status(env, id)).status?.state, ContainerState.CONTAINER_UNKNOWN);
      const pod = await env.c.runtime.podSandboxStatus({ podSandboxId, verbose: false });
      assert.equal(pod.status?.state, PodSandboxState.SANDBOX_READY);
      await assert.rejects(
        env.c.runtime.runPodSandbox({ config: podConfig(env, 'dkcold2'), runtimeHandler: 'docker' }),
        (err: unknown) => statusOf(err) === grpc.status.UNAVAILABLE && String(err).includes(dockerd.socket),
      );
    } finally {
      await dockerd.start();
    }
    await until(
      'container state once dockerd answers',
      async () => (await status(env, id)).status?.state,
      (st) => st === ContainerState.CONTAINER_RUNNING,
    );
    const pod = await env.c.runtime.podSandboxStatus({ podSandboxId, verbose: false });
    assert.equal(pod.status?.state, PodSandboxState.SANDBOX_READY);
    // Its exit is followed again.
    const [summary] = await api.listContainers([`${LABELS.container}=${id}`]);
    await api.killContainer(summary!.Id, 'SIGKILL');
    await waitForState(env, id, ContainerState.CONTAINER_EXITED);
    assert.equal((await status(env, id)).status?.exitCode, 137);
  });

  it('reports the exit code and a NOTREADY pod when dockerd restarts without --live-restore', async () => {
    await dockerd.stop();
    await dockerd.start({ liveRestore: false });
    const { podSandboxId, config } = await dockerPod('dknolive');
    // dockerd stops its containers when it stops: SIGTERM, which this one answers with exit 7.
    const id = await dockerContainer(
      podSandboxId,
      config,
      'traps',
      'trap "echo got-term; exit 7" TERM; echo up; while :; do sleep 0.1; done',
    );
    const logPath = (await status(env, id)).status!.logPath;
    await until(
      'the first log line',
      () => criLog(logPath),
      (l) => l.some((x) => x.text === 'up'),
    );
    await dockerd.stop();
    await dockerd.start();
    await waitForState(env, id, ContainerState.CONTAINER_EXITED);
    const st = (await status(env, id)).status!;
    assert.equal(st.exitCode, 7);
    assert.equal(st.reason, 'Error');
    await until(
      'pod state after its infra ended',
      async () => (await env.c.runtime.podSandboxStatus({ podSandboxId, verbose: false })).status?.state,
      (s) => s === PodSandboxState.SANDBOX_NOTREADY,
    );
    // What the container wrote while dockerd stopped it is in its CRI log too.
    await until(
      'the last log line',
      () => criLog(logPath),
      (l) => l.some((x) => x.text === 'got-term'),
    );
    ok = true;
  });
});
