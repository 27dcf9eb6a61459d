/**
 * The infra process of a pod with a shared PID namespace (issue 12 item 1): its death makes the pod
 * SANDBOX_NOTREADY at once (and after a restart, whether it died before or after), creating a container in
 * such a pod fails cleanly, and containers join the pinned namespace, never `/proc/<infra pid>/ns/pid`,
 * so a host process that reuses the dead infra's pid is never joined, nor pinned by recovery.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, promises as fs, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ContainerState, PodSandboxState } from '../support/cri-client.js';
import {
  containerConfig,
  finishPodEnv,
  type PodEnv,
  podConfig,
  startPodEnv,
  status,
  waitForState,
} from './pod-fixture.js';

/** A pod whose containers share one PID namespace (kubelet's shareProcessNamespace: true). */
async function sharedPidPod(env: PodEnv, name: string) {
  const config = podConfig(env, name);
  config.linux!.securityContext!.namespaceOptions!.pid = 0; // POD
  const { podSandboxId } = await env.c.runtime.runPodSandbox({ config, runtimeHandler: '' });
  return { podSandboxId, config };
}

async function infraPid(env: PodEnv, podSandboxId: string): Promise<number> {
  const s = await env.c.runtime.podSandboxStatus({ podSandboxId, verbose: true });
  const pid = JSON.parse(s.info.info ?? '{}').runtime?.info?.infraPid as number;
  assert.ok(pid > 0, 'the pod has an infra process');
  return pid;
}

async function podState(env: PodEnv, podSandboxId: string): Promise<number | undefined> {
  return (await env.c.runtime.podSandboxStatus({ podSandboxId, verbose: false })).status?.state;
}

/** Waits (bounded) for the pod to be reported NOTREADY; the kernel gives no event for a non-child's death. */
async function waitNotReady(env: PodEnv, podSandboxId: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await podState(env, podSandboxId)) === PodSandboxState.SANDBOX_NOTREADY) return;
    await sleep(50);
  }
  assert.fail(`pod ${podSandboxId} still READY 10 s after its infra died`);
}

async function gone(pid: number): Promise<void> {
  for (let i = 0; i < 400 && existsSync(`/proc/${pid}`); i++) await sleep(25);
  assert.ok(!existsSync(`/proc/${pid}`), `process ${pid} did not exit`);
}

/** Starts a host process with pid `pid` (through ns_last_pid), as a recycled pid would; undefined if raced. */
async function processWithPid(pid: number): Promise<ChildProcess | undefined> {
  for (let i = 0; i < 50; i++) {
    writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
    const p = spawn('sleep', ['600'], { stdio: 'ignore' });
    if (p.pid === pid) return p;
    p.kill('SIGKILL');
  }
  return undefined;
}

function nsInode(file: string): number {
  return statSync(file).ino;
}

describe('infra process of a shared pid namespace (e2e)', () => {
  let env: PodEnv;
  let ok = true;
  const strangers: ChildProcess[] = [];
  before(async () => {
    env = await startPodEnv();
  });
  after(async () => {
    for (const p of strangers) p.kill('SIGKILL');
    await finishPodEnv(env, ok);
  });

  it('a killed infra makes the pod NOTREADY at once; its reused pid is never joined', async () => {
    ok = false;
    const { podSandboxId, config } = await sharedPidPod(env, 'infra-kill');
    const pid = await infraPid(env, podSandboxId);
    const ctr = containerConfig(env, 'a', 'sleep 600');
    ctr.linux!.securityContext!.namespaceOptions!.pid = 0; // POD
    const { containerId } = await env.c.runtime.createContainer({ podSandboxId, config: ctr, sandboxConfig: config });
    await env.c.runtime.startContainer({ containerId });

    // The container joins the pin, which holds the infra's namespace.
    const pin = path.join(env.d.runtimeDir, 'mesos', 'pins', podSandboxId, 'pid');
    const bundle = path.join(env.d.runtimeDir, 'mesos', 'pods', podSandboxId, 'containers', containerId);
    const spec = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    const pidNs = spec.linux.namespaces.find((n: { type: string }) => n.type === 'pid');
    assert.equal(pidNs.path, pin);
    assert.equal(nsInode(pin), nsInode(`/proc/${pid}/ns/pid`));
    // The infra (pid 1 of the shared namespace) is the static pause: the pod's containers see no process of it
    // but itself (critest's execSync-timeout spec runs `pgrep sleep` in such a pod).
    const ps = await env.c.runtime.execSync({ containerId, cmd: ['ps', '-o', 'pid,args'], timeout: 10n });
    const lines = ps.stdout.toString().trim().split('\n').slice(1);
    assert.match(lines[0] ?? '', /^\s*1\s+\/bin\/pause$/, ps.stdout.toString());
    assert.equal(lines.filter((l) => /sleep 3600/.test(l)).length, 0, ps.stdout.toString());

    process.kill(pid, 'SIGKILL');
    await waitNotReady(env, podSandboxId);
    // Its pid namespace's processes went with it.
    await waitForState(env, containerId, ContainerState.CONTAINER_EXITED);
    await gone(pid);

    // A host process now holds the infra's pid: nothing may join its namespace through the pod.
    const stranger = await processWithPid(pid);
    assert.ok(stranger, `no process could be started with the dead infra's pid ${pid}`);
    strangers.push(stranger);
    const ctr2 = containerConfig(env, 'b', 'sleep 600');
    ctr2.linux!.securityContext!.namespaceOptions!.pid = 0;
    await assert.rejects(
      env.c.runtime.createContainer({ podSandboxId, config: ctr2, sandboxConfig: config }),
      (e: { code?: number }) => e.code === 9, // FAILED_PRECONDITION
    );
    assert.equal((await env.c.runtime.listContainers({ filter: undefined })).containers.length, 1);

    // Recovery with the pid taken by a stranger: still NOTREADY, and the pin never holds the host's namespace.
    await env.d.kill9();
    await env.restart();
    assert.equal(await podState(env, podSandboxId), PodSandboxState.SANDBOX_NOTREADY);
    assert.equal(stranger.exitCode, null, 'the stranger is left alone');
    if (existsSync(pin)) assert.notEqual(nsInode(pin), nsInode(`/proc/${stranger.pid}/ns/pid`));
    assert.equal((await status(env, containerId)).status?.state, ContainerState.CONTAINER_EXITED);
    await env.c.runtime.stopPodSandbox({ podSandboxId });
    await env.c.runtime.removePodSandbox({ podSandboxId });
    ok = true;
  });

  it('the infra is watched again after a restart, and one that died while ucri was down is noticed', async () => {
    ok = false;
    const live = await sharedPidPod(env, 'infra-live');
    const dies = await sharedPidPod(env, 'infra-dies');
    const livePid = await infraPid(env, live.podSandboxId);
    const diesPid = await infraPid(env, dies.podSandboxId);

    await env.d.kill9();
    process.kill(diesPid, 'SIGKILL');
    await gone(diesPid);
    await env.restart();
    assert.equal(await podState(env, dies.podSandboxId), PodSandboxState.SANDBOX_NOTREADY);
    assert.equal(await podState(env, live.podSandboxId), PodSandboxState.SANDBOX_READY);

    process.kill(livePid, 'SIGKILL');
    await waitNotReady(env, live.podSandboxId);
    for (const p of [live, dies]) {
      await env.c.runtime.stopPodSandbox({ podSandboxId: p.podSandboxId });
      await env.c.runtime.removePodSandbox({ podSandboxId: p.podSandboxId });
    }
    await fs.access(env.d.socket);
    ok = true;
  });
});
