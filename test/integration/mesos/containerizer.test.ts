/**
 * The Mesos containerizer with real runc, conmon, provisioner and isolators: pods with pinned namespaces,
 * the container lifecycle, stop signals, exec, log reopen, OOM, rollback and removal. Needs root.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { MesosContainerizer } from '../../../pkg/mesos/index.js';
import { MesosProvisioner } from '../../../pkg/mesos/provisioner/index.js';
import { cgroupExists, isPinned, mountsUnder, namespaceInode } from '../../../pkg/sys/index.js';
import { isKind } from '../../../pkg/util/index.js';
import { Fixture } from './fixture.js';

let f: Fixture;
let m: MesosContainerizer;
const signal = (): AbortSignal => AbortSignal.timeout(60_000);

before(async () => {
  f = await Fixture.create();
  m = f.containerizer();
  await m.recover({ pods: [], containers: [] });
});

after(async () => {
  if (f) await f.cleanup();
});

/** Creates, starts and waits for a container running `args` in `pod`. */
async function runToEnd(pod: ReturnType<Fixture['podSpec']>, args: string[]) {
  const spec = f.containerSpec(pod, args);
  await m.createContainer(spec, pod, signal());
  await m.startContainer(spec.id, signal());
  const t = await m.wait(spec.id);
  return { spec, t, lines: await f.logLines(spec) };
}

describe('pods', () => {
  it('pins namespaces that two containers share, and removePod cleans everything', async () => {
    const pod = f.podSpec({ hostname: 'pod-one' });
    const rt = await m.runPod(pod, signal());
    assert.ok(rt.netnsPath !== '' && (await isPinned(rt.netnsPath)));
    assert.equal(rt.info.mesosState, 'READY');
    const netIno = await namespaceInode(rt.netnsPath);
    const script = 'hostname; readlink /proc/self/ns/net; readlink /proc/self/ns/uts; exit 3';
    const a = await runToEnd(pod, ['sh', '-c', script]);
    const b = await runToEnd(pod, ['sh', '-c', script]);
    assert.equal(a.t.exitCode, 3);
    assert.equal(a.t.reason, 'Error');
    assert.ok(a.t.finishedAt > 0n);
    assert.equal(a.lines[0], 'pod-one');
    assert.equal(a.lines[1], `net:[${netIno}]`);
    assert.deepEqual(a.lines, b.lines);
    const st = m.containerRuntime(a.spec.id);
    assert.equal(st.state, 'exited');
    assert.equal(st.mesosState, 'TERMINATED');
    assert.ok(st.startedAt > 0n);

    await m.stopPod(pod.id, signal());
    assert.equal(m.podRuntime(pod.id)?.info.mesosState, 'STOPPED');
    await m.stopPod(pod.id, signal()); // idempotent
    await m.removePod(pod.id, signal());
    await m.removePod(pod.id, signal()); // idempotent
    assert.equal(m.podRuntime(pod.id), undefined);
    assert.throws(
      () => m.containerRuntime(a.spec.id),
      (e) => isKind(e, 'NotFound'),
    );
    await f.assertClean();
  });

  it('a shared pid namespace is held by the infra process', async () => {
    const pod = f.podSpec({ namespaces: { network: 'pod', pid: 'pod', ipc: 'pod' } });
    const rt = await m.runPod(pod, signal());
    const infraPid = rt.info.infraPid as number;
    assert.ok(infraPid > 0);
    const sleeper = f.containerSpec(pod, ['sleep', '300'], {
      namespaces: { pid: 'pod', ipc: 'pod', network: 'pod', targetId: '' },
    });
    await m.createContainer(sleeper, pod, signal());
    await m.startContainer(sleeper.id, signal());
    const r = await m.execSync(sleeper.id, ['sh', '-c', 'readlink /proc/self/ns/pid; ps -o pid,comm'], 10, signal());
    assert.equal(r.exitCode, 0);
    const out = r.stdout.toString();
    assert.ok(out.startsWith(`pid:[${await namespaceInode(`/proc/${infraPid}/ns/pid`)}]`), out);
    // The infra (the static native pause) is pid 1 of the pod; the sleeper sees it.
    assert.match(out, /\n\s*1 pause\n/);
    await m.stopPod(pod.id, signal());
    assert.equal(m.containerRuntime(sleeper.id).state, 'exited');
    await m.removePod(pod.id, signal());
    await f.assertClean();
  });
});

describe('posix launcher', () => {
  it('runs containers in the host namespaces, mount namespace aside', async () => {
    const posix = f.containerizer({ launcher: 'posix' });
    await posix.recover({ pods: [], containers: [] });
    const own = f.podSpec();
    await assert.rejects(posix.runPod(own, signal()), (e) => isKind(e, 'FailedPrecondition'));
    const pod = f.podSpec({ namespaces: { network: 'node', pid: 'container', ipc: 'node' } });
    await posix.runPod(pod, signal());
    after(async () => {
      await posix.removePod(pod.id, signal());
      posix.close();
    });
    const spec = f.containerSpec(pod, ['sh', '-c', 'readlink /proc/self/ns/net; readlink /proc/self/ns/pid'], {
      namespaces: { pid: 'container', ipc: 'node', network: 'node', targetId: '' },
    });
    await posix.createContainer(spec, pod, signal());
    await posix.startContainer(spec.id, signal());
    assert.equal((await posix.wait(spec.id)).exitCode, 0);
    const host = [
      `net:[${await namespaceInode('/proc/self/ns/net')}]`,
      `pid:[${await namespaceInode('/proc/self/ns/pid')}]`,
    ];
    assert.deepEqual(await f.logLines(spec), host);
  });
});

describe('containers', () => {
  let pod: ReturnType<Fixture['podSpec']>;
  before(async () => {
    pod = f.podSpec();
    await m.runPod(pod, signal());
  });
  after(async () => {
    await m.removePod(pod.id, signal());
    await f.assertClean();
  });

  it('create writes the bundle and starts nothing; start runs it to completion', async () => {
    const spec = f.containerSpec(pod, ['sh', '-c', 'echo hello; exit 0']);
    const created = await m.createContainer(spec, pod, signal());
    assert.equal(created.state, 'created');
    assert.equal(created.mesosState, 'PREPARING');
    assert.equal(created.pid, 0);
    // config.json is written by the launcher at start, from the record (not at create).
    await assert.rejects(fs.access(`${created.info.bundle as string}/config.json`));
    await fs.access(created.info.bundle as string);
    const started = await m.startContainer(spec.id, signal());
    await fs.access(`${created.info.bundle as string}/config.json`);
    assert.ok(['running', 'exited'].includes(started.state));
    const t = await m.wait(spec.id);
    assert.deepEqual([t.exitCode, t.reason], [0, 'Completed']);
    assert.deepEqual(await f.logLines(spec), ['hello']);
    await assert.rejects(m.startContainer(spec.id, signal()), (e) => isKind(e, 'FailedPrecondition'));
    await m.removeContainer(spec.id, signal());
    await m.removeContainer(spec.id, signal());
    assert.equal(f.images.leases.has(spec.id), false);
  });

  it('start writes config.json into a bundle dir that went missing, and into a new log dir', async () => {
    // The launcher writes config.json into the bundle the create made and makes the dir only when the write
    // finds it gone; the log's dir is made with one mkdir when kubelet has not made it.
    const spec = f.containerSpec(pod, ['sh', '-c', 'echo again']);
    spec.logPath = `${pod.logDirectory}/new-${spec.id.slice(0, 6)}/0.log`;
    const created = await m.createContainer(spec, pod, signal());
    await fs.rm(created.info.bundle as string, { recursive: true });
    await m.startContainer(spec.id, signal());
    await fs.access(`${created.info.bundle as string}/config.json`);
    const t = await m.wait(spec.id);
    assert.deepEqual([t.exitCode, t.reason], [0, 'Completed']);
    assert.deepEqual(await f.logLines(spec), ['again']);
    await m.removeContainer(spec.id, signal());
  });

  it('stop sends SIGTERM, and SIGKILL to a process that ignores it', async () => {
    // pid 1 of a pid namespace ignores signals it has no handler for: the polite one traps TERM.
    const polite = f.containerSpec(pod, ['sh', '-c', 'trap "exit 143" TERM; sleep 300 & wait']);
    const stubborn = f.containerSpec(pod, ['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 1; done']);
    for (const s of [polite, stubborn]) {
      await m.createContainer(s, pod, signal());
      await m.startContainer(s.id, signal());
    }
    await m.stopContainer(polite.id, 30, signal());
    assert.equal((await m.wait(polite.id)).exitCode, 143);
    await m.stopContainer(stubborn.id, 1, signal());
    assert.equal((await m.wait(stubborn.id)).exitCode, 137);
    await m.stopContainer(stubborn.id, 1, signal()); // idempotent
    await m.stopContainer('0'.repeat(64), 1, signal()); // unknown: fine
    for (const s of [polite, stubborn]) await m.removeContainer(s.id, signal());
  });

  it('stop uses the image stop signal', async () => {
    const image = f.images.add(`sha256:${'b'.repeat(64)}`, { stopSignal: 'SIGUSR1' });
    const spec = f.containerSpec(pod, ['sh', '-c', 'trap "exit 42" USR1; trap "" TERM; while :; do sleep 1; done'], {
      image: { id: image, ref: 'test/stopsignal:latest' },
    });
    await m.createContainer(spec, pod, signal());
    assert.equal(m.containerRuntime(spec.id).info.stopSignal, 'SIGUSR1');
    await m.startContainer(spec.id, signal());
    // The trap is set before the loop; exec proves the shell got that far.
    await m.execSync(spec.id, ['true'], 10, signal());
    await m.stopContainer(spec.id, 60, signal());
    assert.equal((await m.wait(spec.id)).exitCode, 42);
    await m.removeContainer(spec.id, signal());
  });

  it('execSync runs as the container process does, and times out', async () => {
    const spec = f.containerSpec(pod, ['sleep', '300'], { env: [{ key: 'FOO', value: 'bar' }], workingDir: '/tmp' });
    await m.createContainer(spec, pod, signal());
    await m.startContainer(spec.id, signal());
    const r = await m.execSync(spec.id, ['sh', '-c', 'echo $FOO; pwd; echo err >&2; exit 7'], 10, signal());
    assert.deepEqual([r.exitCode, r.stdout.toString(), r.stderr.toString()], [7, 'bar\n/tmp\n', 'err\n']);
    await assert.rejects(m.execSync(spec.id, ['sleep', '30'], 1, signal()), (e) => isKind(e, 'DeadlineExceeded'));
    await m.reopenLog(spec.id);
    await m.removeContainer(spec.id, signal()); // kills it
    await assert.rejects(m.execSync(spec.id, ['true'], 1, signal()), (e) => isKind(e, 'NotFound'));
  });

  it('reopenLog makes conmon write to a new file after rotation', async () => {
    // A process that logs only on demand: exec writes to its stdout through /proc/1/fd/1.
    const spec = f.containerSpec(pod, ['sleep', '300']);
    await m.createContainer(spec, pod, signal());
    await m.startContainer(spec.id, signal());
    await m.execSync(spec.id, ['sh', '-c', 'echo before > /proc/1/fd/1'], 10, signal());
    await waitFor(async () => (await f.logLines(spec)).includes('before'));
    await fs.rename(spec.logPath, `${spec.logPath}.1`);
    await m.reopenLog(spec.id);
    // The new file exists as soon as the call returns (kubelet and critest check at once).
    await fs.access(spec.logPath);
    await m.execSync(spec.id, ['sh', '-c', 'echo after > /proc/1/fd/1'], 10, signal());
    await waitFor(async () => (await f.logLines(spec)).includes('after'));
    assert.deepEqual(await f.logLines(spec), ['after']);
    await m.removeContainer(spec.id, signal());
  });

  it('an OOM kill is reported as OOMKilled', async () => {
    // dd allocates its 64 MiB block at once: over the 32 MiB limit.
    const spec = f.containerSpec(pod, ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1']);
    spec.resources = { ...spec.resources, memoryLimitBytes: 32 * 1024 * 1024 };
    await m.createContainer(spec, pod, signal());
    await m.startContainer(spec.id, signal());
    const t = await m.wait(spec.id);
    assert.equal(t.reason, 'OOMKilled', `${t.exitCode} ${t.reason} ${t.message} ${(await f.logLines(spec)).join('|')}`);
    assert.equal(t.exitCode, 137);
    await m.removeContainer(spec.id, signal());
  });

  it('usage reports cgroup figures; update changes limits', async () => {
    const spec = f.containerSpec(pod, ['sleep', '300']);
    await m.createContainer(spec, pod, signal());
    await m.startContainer(spec.id, signal());
    const u = await m.usage(spec.id);
    assert.ok(
      u.memoryUsageBytes > 0 && u.pids >= 1,
      JSON.stringify(u, (_k, v) => (typeof v === 'bigint' ? `${v}` : v)),
    );
    await m.update(spec.id, { ...spec.resources, memoryLimitBytes: 64 * 1024 * 1024 }, signal());
    const p = await m.podUsage(pod.id);
    assert.ok(p.memoryUsageBytes > 0);
    await m.removeContainer(spec.id, signal());
  });

  it('a failing start leaves the container created, with nothing running', async () => {
    const spec = f.containerSpec(pod, ['/no/such/program']);
    await m.createContainer(spec, pod, signal());
    await assert.rejects(m.startContainer(spec.id, signal()));
    const st = m.containerRuntime(spec.id);
    assert.deepEqual([st.state, st.mesosState, st.pid], ['created', 'PREPARING', 0]);
    await assert.rejects(fs.access(`${f.runtimeDir}/mesos/runc/${spec.id}`));
    await m.removeContainer(spec.id, signal());
  });

  it('a removal with `later` releases nothing until `releaseAfter` has settled, then everything', async () => {
    const spec = f.containerSpec(pod, ['sleep', '300']);
    await m.createContainer(spec, pod, signal());
    await m.startContainer(spec.id, signal());
    let answered!: () => void;
    const releaseAfter = new Promise<void>((resolve) => (answered = resolve));
    await m.removeContainer(spec.id, signal(), { later: true, releaseAfter });
    // Killed and forgotten at once...
    assert.throws(
      () => m.containerRuntime(spec.id),
      (e) => isKind(e, 'NotFound'),
    );
    // ...but its runtime container, rootfs mount and record wait for the caller's answer.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await fs.access(`${f.runtimeDir}/mesos/runc/${spec.id}`);
    assert.ok(
      (await mountsUnder(f.dir)).some((mp) => mp.mountPoint.includes(spec.id)),
      'rootfs still mounted',
    );
    await fs.access(`${f.workDir}/mesos/pods/${pod.id}/containers/${spec.id}`);
    answered();
    // A removal without `later` waits for the background release to end.
    await m.removeContainer(spec.id, signal());
    await assert.rejects(fs.access(`${f.runtimeDir}/mesos/runc/${spec.id}`));
    await assert.rejects(fs.access(`${f.workDir}/mesos/pods/${pod.id}/containers/${spec.id}`));
    assert.ok(!(await mountsUnder(f.dir)).some((mp) => mp.mountPoint.includes(spec.id)), 'rootfs unmounted');
  });

  it('the release deletes the runtime container first, then rootfs, isolators and bundle at once, the record last', async () => {
    // A second fixture whose provisioner's destroy waits for the bundle to go: the steps after the runtime
    // container are concurrent (one after the other, the bundle would wait for this destroy: a timeout).
    const g = await Fixture.create();
    const seen: string[] = [];
    const exists = (p: string) =>
      fs.access(p).then(
        () => true,
        () => false,
      );
    let paths = { runtime: '', bundle: '', record: '' };
    class Probe extends MesosProvisioner {
      override async destroy(id: string): Promise<void> {
        if (id === spec.id) {
          seen.push(`runtime there: ${await exists(paths.runtime)}`);
          for (let i = 0; i < 500 && (await exists(paths.bundle)); i++) await new Promise((r) => setTimeout(r, 10));
          seen.push(`bundle there: ${await exists(paths.bundle)}`);
          seen.push(`record there: ${await exists(paths.record)}`);
        }
        await super.destroy(id);
      }
    }
    const provisioner = new Probe({ workDir: g.workDir, source: g.images });
    const n = g.containerizer({ provisioner });
    const pod = g.podSpec();
    const spec = g.containerSpec(pod, ['sleep', '300']);
    paths = {
      runtime: `${g.runtimeDir}/mesos/runc/${spec.id}`,
      bundle: `${g.runtimeDir}/mesos/pods/${pod.id}/containers/${spec.id}`,
      record: `${g.workDir}/mesos/pods/${pod.id}/containers/${spec.id}`,
    };
    try {
      await n.recover({ pods: [], containers: [] });
      await n.runPod(pod, signal());
      await n.createContainer(spec, pod, signal());
      await n.startContainer(spec.id, signal());
      await n.removeContainer(spec.id, signal());
      assert.deepEqual(seen, ['runtime there: false', 'bundle there: false', 'record there: true']);
      for (const p of Object.values(paths)) assert.equal(await exists(p), false, p);
      assert.ok(!(await mountsUnder(g.dir)).some((mp) => mp.mountPoint.includes(spec.id)), 'rootfs unmounted');
      await n.stopPod(pod.id, signal());
      await n.removePod(pod.id, signal());
    } finally {
      await g.cleanup();
    }
  });

  it('a failing prepare leaves nothing behind', async () => {
    const spec = f.containerSpec(pod, ['true'], {
      mounts: [
        {
          containerPath: '/data',
          hostPath: 'relative/ucri',
          readonly: false,
          propagation: 'private',
          recursiveReadOnly: false,
        },
      ],
    });
    await assert.rejects(m.createContainer(spec, pod, signal()), (e) => isKind(e, 'InvalidArgument'));
    assert.throws(
      () => m.containerRuntime(spec.id),
      (e) => isKind(e, 'NotFound'),
    );
    assert.equal(f.images.leases.has(spec.id), false);
    await assert.rejects(fs.access(`${f.runtimeDir}/mesos/pods/${pod.id}/containers/${spec.id}`));
    assert.equal(await cgroupExists(`${f.cgroupsRoot}/${pod.id}/${spec.id}`), false);
    assert.deepEqual(
      (await mountsUnder(f.dir)).filter((x) => x.mountPoint.includes(spec.id)),
      [],
    );
    const bad = f.containerSpec(pod, ['true'], { image: { id: `sha256:${'c'.repeat(64)}`, ref: 'missing' } });
    await assert.rejects(m.createContainer(bad, pod, signal()), (e) => isKind(e, 'NotFound'));
    // The bundle dir is made while the rootfs is provisioned: a failed provision removes it too.
    await assert.rejects(fs.access(`${f.runtimeDir}/mesos/pods/${pod.id}/containers/${bad.id}`));
    assert.equal(f.images.leases.has(bad.id), false);
  });
});

async function waitFor(fn: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 25));
  }
}
