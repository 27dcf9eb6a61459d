/**
 * SIGKILL at every named step of every verb (UCRI_CRASH_AT, pkg/util/crash-point.ts), then restart, retry
 * and finish the lifecycle: every retried verb succeeds and nothing leaks (runtime containers, conmon,
 * mounts, cgroups, namespace pins, IP leases).
 *
 * One daemon start per case: the daemon that recovers from case N is the one armed for case N+1, and it
 * leaves the objects of earlier cases alone until a last, unarmed daemon retries every interrupted verb and
 * finishes every lifecycle. So each object also lives through several recoveries before it is retried.
 * Pods share one PID namespace, so the infra steps are crossed too.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BACKGROUND_CRASH_POINTS, CRASH_POINTS, type CrashVerb } from '../../pkg/util/index.js';
import { ContainerState, type PodSandboxConfig, PodSandboxState } from '../support/cri-client.js';
import { startDaemon } from '../support/daemon.js';
import {
  assertNothingLeft,
  containerConfig,
  finishPodEnv,
  type PodEnv,
  podConfig,
  startPodEnv,
  status,
} from './pod-fixture.js';

const CONTAINER_LIFECYCLE: CrashVerb[] = [
  'RunPodSandbox',
  'CreateContainer',
  'StartContainer',
  'StopContainer',
  'RemoveContainer',
  'StopPodSandbox',
  'RemovePodSandbox',
];
/** Kubelet stops and removes a pod with its containers still there: the pod verbs are crossed that way. */
const POD_LIFECYCLE: CrashVerb[] = [
  'RunPodSandbox',
  'CreateContainer',
  'StartContainer',
  'StopPodSandbox',
  'RemovePodSandbox',
];

interface Case {
  verb: CrashVerb;
  step: string;
  verbs: CrashVerb[];
  config: PodSandboxConfig;
  podId?: string;
  containerId?: string;
  /**
   * After the crash, the provisioner record of the container being created is deleted: what a power loss
   * during CreateContainer's one fsync round may leave (the container record durable, the provisioner's not).
   */
  dropProvisionerRecord?: boolean;
  /**
   * After the crash, the Mesos container.json of the container being created is cut short: what a power loss
   * during that round may leave, since container.json is renamed into place before its fsync (the name
   * durable, the content not). Read as no record: the create is rolled back.
   */
  tearContainerRecord?: boolean;
  /**
   * After the crash, the CRI record of the pod being run is deleted: what a power loss may leave, since its
   * `creating` record is renamed into place without fsync (the containerizer's pod record is durable).
   */
  dropSandboxRecord?: boolean;
  /**
   * After the crash, the CRI record of the pod being stopped says `ready` again: what a power loss may leave,
   * since its `stopped` record is renamed into place without fsync.
   */
  unstopSandboxRecord?: boolean;
}

/**
 * Whether a create killed at `step` is adopted by recovery (the CRI `creating` record and the containerizer's
 * records were durable together) rather than rolled back.
 */
function adopted(k: Case): boolean {
  return (
    k.verb === 'CreateContainer' &&
    (k.step === 'saved' || k.step === 'created') &&
    !k.dropProvisionerRecord &&
    !k.tearContainerRecord
  );
}

describe('crash points (e2e)', () => {
  let env: PodEnv;
  let ok = false;
  before(async () => {
    env = await startPodEnv();
  });
  after(() => finishPodEnv(env, ok));

  async function restart(point?: string): Promise<void> {
    if (env.d.proc.exitCode === null && env.d.proc.signalCode === null) await env.d.stop();
    env.d = await startDaemon({
      root: env.d.root,
      flags: [`--cgroups_root=${env.cgroupsRoot}`],
      env: point ? { UCRI_CRASH_AT: point } : {},
    });
    env.c = env.d.client();
  }

  async function run(k: Case, verb: CrashVerb): Promise<void> {
    const rt = env.c.runtime;
    switch (verb) {
      case 'RunPodSandbox':
        k.podId = (await rt.runPodSandbox({ config: k.config, runtimeHandler: '' })).podSandboxId;
        return;
      case 'CreateContainer': {
        const config = containerConfig(env, 'main', 'sleep 600');
        config.linux!.securityContext!.namespaceOptions!.pid = 0; // POD
        const r = await rt.createContainer({ podSandboxId: k.podId!, config, sandboxConfig: k.config });
        k.containerId = r.containerId;
        return;
      }
      case 'StartContainer':
        await rt.startContainer({ containerId: k.containerId! });
        assert.equal((await status(env, k.containerId!)).status?.state, ContainerState.CONTAINER_RUNNING);
        return;
      case 'StopContainer':
        await rt.stopContainer({ containerId: k.containerId!, timeout: 2n });
        assert.equal((await status(env, k.containerId!)).status?.state, ContainerState.CONTAINER_EXITED);
        return;
      case 'RemoveContainer':
        await rt.removeContainer({ containerId: k.containerId! });
        return;
      case 'StopPodSandbox': {
        await rt.stopPodSandbox({ podSandboxId: k.podId! });
        await assertStopped(k);
        return;
      }
      case 'RemovePodSandbox':
        await rt.removePodSandbox({ podSandboxId: k.podId! });
        return;
    }
  }

  /** The id of the one container of `k`'s pod, found by its CRI record. */
  async function interruptedCreate(k: Case): Promise<string> {
    const dir = path.join(env.d.workDir, 'cri', 'containers');
    let id = '';
    for (const name of await fs.readdir(dir)) {
      if (!name.endsWith('.json')) continue;
      const rec = JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as {
        meta: { id: string; podId: string };
      };
      if (rec.meta.podId === k.podId) id = rec.meta.id;
    }
    assert.ok(id !== '', 'no CRI record of the interrupted create');
    return id;
  }

  /** Deletes the provisioner record of the one container of `k`'s pod. */
  async function dropProvisionerRecord(k: Case): Promise<void> {
    const id = await interruptedCreate(k);
    await fs.rm(path.join(env.d.workDir, 'provisioner', 'containers', id, 'record.json'));
  }

  /** Cuts the Mesos container.json of the one container of `k`'s pod in half, as a torn write leaves it. */
  async function tearContainerRecord(k: Case): Promise<void> {
    const id = await interruptedCreate(k);
    const file = path.join(env.d.workDir, 'mesos', 'pods', k.podId!, 'containers', id, 'container.json');
    const text = await fs.readFile(file, 'utf8');
    await fs.writeFile(file, text.slice(0, Math.floor(text.length / 2)));
  }

  /** A pod whose stop began is NOTREADY with no IP, whether or not the stop got to finish. */
  async function assertStopped(k: Case): Promise<void> {
    const s = await env.c.runtime.podSandboxStatus({ podSandboxId: k.podId!, verbose: false });
    assert.equal(s.status?.state, PodSandboxState.SANDBOX_NOTREADY, `${k.verb}:${k.step}`);
    assert.equal(s.status?.network?.ip ?? '', '', `${k.verb}:${k.step}: stopped pod shows an ip`);
  }

  /** The CRI record file of the one sandbox named for `k`. */
  async function sandboxRecord(k: Case): Promise<string> {
    const dir = path.join(env.d.workDir, 'cri', 'sandboxes');
    for (const name of await fs.readdir(dir)) {
      if (!name.endsWith('.json')) continue;
      const rec = JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as { meta: { name: string } };
      if (rec.meta.name.includes(k.config.metadata!.name)) return path.join(dir, name);
    }
    throw new Error(`no CRI record of pod ${k.config.metadata!.name}`);
  }

  /** Sets the CRI record of `k`'s pod back to `ready`. */
  async function unstopSandboxRecord(k: Case): Promise<void> {
    const file = await sandboxRecord(k);
    const rec = JSON.parse(await fs.readFile(file, 'utf8')) as { status: { state: string } };
    assert.equal(rec.status.state, 'stopped');
    rec.status.state = 'ready';
    await fs.writeFile(file, JSON.stringify(rec));
  }

  it('every verb, killed at every step, is recovered, retried and leaves nothing behind', async () => {
    const cases: Case[] = [];
    for (const [verb, steps] of Object.entries(CRASH_POINTS) as Array<[CrashVerb, readonly string[]]>) {
      const verbs = verb === 'StopPodSandbox' || verb === 'RemovePodSandbox' ? POD_LIFECYCLE : CONTAINER_LIFECYCLE;
      for (const step of steps) {
        const config = podConfig(env, `crash-${verb.toLowerCase()}-${step}`);
        config.linux!.securityContext!.namespaceOptions!.pid = 0; // POD: the infra steps are crossed too
        cases.push({ verb, step, verbs, config });
      }
    }
    // Four more kills, each with one record damaged after the kill as a power loss may leave it: two of the
    // create's records at CreateContainer:saved, and two records renamed into place without fsync.
    type Damage = Pick<
      Case,
      'dropProvisionerRecord' | 'tearContainerRecord' | 'dropSandboxRecord' | 'unstopSandboxRecord'
    >;
    const damagedCase = (verb: CrashVerb, step: string, name: string, verbs: CrashVerb[], damage: Damage): void => {
      const config = podConfig(env, `crash-${verb.toLowerCase()}-${step}-${name}`);
      config.linux!.securityContext!.namespaceOptions!.pid = 0;
      cases.push({ verb, step, verbs, config, ...damage });
    };
    damagedCase('CreateContainer', 'saved', 'dropped', CONTAINER_LIFECYCLE, { dropProvisionerRecord: true });
    damagedCase('CreateContainer', 'saved', 'torn', CONTAINER_LIFECYCLE, { tearContainerRecord: true });
    damagedCase('RunPodSandbox', 'ready', 'dropped', CONTAINER_LIFECYCLE, { dropSandboxRecord: true });
    damagedCase('StopPodSandbox', 'network-released', 'unstopped', POD_LIFECYCLE, { unstopSandboxRecord: true });
    await env.d.stop();
    for (const k of cases) {
      const point = `${k.verb}:${k.step}`;
      await restart(point);
      for (const v of k.verbs.slice(0, k.verbs.indexOf(k.verb))) await run(k, v);
      let crashed = false;
      await run(k, k.verb).catch(() => {
        crashed = true;
      });
      await new Promise<void>((resolve) => {
        if (env.d.proc.exitCode !== null || env.d.proc.signalCode !== null) return resolve();
        // Bounded, so a background point that is never reached fails below instead of hanging the test.
        const timer = setTimeout(resolve, 60_000);
        env.d.proc.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      // A point in background work may be reached just after the verb answered: then only the kill shows it.
      const answeredFirst = BACKGROUND_CRASH_POINTS.has(point);
      assert.ok(
        (crashed || answeredFirst) && env.d.proc.signalCode === 'SIGKILL',
        `crash point ${point} was never reached`,
      );
      assert.match(env.d.output(), new RegExp(`crash point ${point} reached`));
      if (k.dropProvisionerRecord) await dropProvisionerRecord(k);
      if (k.tearContainerRecord) await tearContainerRecord(k);
      if (k.dropSandboxRecord) await fs.rm(await sandboxRecord(k));
      if (k.unstopSandboxRecord) await unstopSandboxRecord(k);
    }

    await restart();
    for (const k of cases) {
      if (k.verb === 'StopPodSandbox') await assertStopped(k);
      if (k.dropSandboxRecord) {
        // The containerizer destroyed the pod as an orphan (network released: checked at the end).
        const { items } = await env.c.runtime.listPodSandbox({ filter: undefined });
        assert.ok(!items.some((p) => p.metadata?.name === k.config.metadata!.name), 'orphan pod kept');
      }
      if (k.verb === 'CreateContainer') {
        // Adopted: the interrupted create's container is there, created; else rolled back: no container.
        const { containers } = await env.c.runtime.listContainers({
          filter: { id: '', state: undefined, podSandboxId: k.podId!, labelSelector: {} },
        });
        const want = adopted(k) ? [ContainerState.CONTAINER_CREATED] : [];
        const what = k.dropProvisionerRecord ? ' (provisioner record dropped)' : '';
        const label = `${k.verb}:${k.step}${what}${k.tearContainerRecord ? ' (container.json torn)' : ''}`;
        assert.deepEqual(
          containers.map((c) => c.state),
          want,
          label,
        );
      }
      // The interrupted verb, retried, then the rest of the lifecycle.
      for (const v of k.verbs.slice(k.verbs.indexOf(k.verb))) {
        await run(k, v).catch((err: unknown) => {
          throw new Error(`after a crash at ${k.verb}:${k.step}, ${v} failed: ${String(err)}`);
        });
      }
    }
    assert.deepEqual((await env.c.runtime.listPodSandbox({ filter: undefined })).items, []);
    assert.deepEqual((await env.c.runtime.listContainers({ filter: undefined })).containers, []);
    await assertNothingLeft(env);
    ok = true;
  });
});
