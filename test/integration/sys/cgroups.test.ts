/**
 * cgroups against the real host (root): create, limits, membership, stats, kill-all and removal. The test
 * parent cgroup is removed in `after`.
 */
import assert from 'node:assert/strict';
import type { Child } from '../../../pkg/sys/index.js';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, it } from 'node:test';
import {
  addProcess,
  cgroupExists,
  cgroupsOfPid,
  cgroupFileReader,
  controllerDir,
  createCgroup,
  destroyCgroup,
  detectCgroupDriver,
  detectCgroups,
  isAlive,
  killCgroup,
  listCgroupPids,
  listChildCgroups,
  oomKilled,
  readCgroupFile,
  readCgroupStats,
  removeCgroup,
  setCgroupLimits,
  start,
  waitChild,
} from '../../../pkg/sys/index.js';
import { configureLogging, isKind } from '../../../pkg/util/index.js';

const parent = `ucri-test-cg-${process.pid}`;
const children: Child[] = [];

before(() => {
  configureLogging({ silent: true });
  if (process.getuid?.() !== 0) throw new Error('cgroup tests need root');
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await destroyCgroup(parent).catch(() => {});
});

it('detects the layout and driver of this host', async () => {
  const l = await detectCgroups(true);
  assert.ok(['v1', 'hybrid', 'v2'].includes(l.mode));
  if (l.mode !== 'v2') assert.ok(l.v1.get('memory'), 'memory controller mounted');
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  assert.equal(l.unified !== undefined, / - cgroup2 /.test(text));
  assert.equal(
    await detectCgroupDriver(),
    await fs.access('/run/systemd/system').then(
      () => 'systemd',
      () => 'cgroupfs',
    ),
  );
});

it('creates a cgroup, applies limits, tracks a process, kills and removes it', async () => {
  const cg = `${parent}/box`;
  await createCgroup(cg);
  await createCgroup(cg); // idempotent
  assert.ok(await cgroupExists(cg));
  assert.deepEqual(await listChildCgroups(parent), ['box']);
  await setCgroupLimits(cg, {
    cpuShares: 512,
    cpuPeriodUs: 100000,
    cpuQuotaUs: 50000,
    memoryLimitBytes: 256 * 1024 * 1024,
    pidsMax: 20,
    cpusetCpus: '0',
  });
  const l = await detectCgroups();
  const memDir = (await controllerDir(cg, 'memory'))!;
  const cpuDir = (await controllerDir(cg, 'cpu'))!;
  if (l.mode === 'v2') {
    assert.equal((await fs.readFile(path.join(memDir, 'memory.max'), 'utf8')).trim(), String(256 << 20));
    assert.equal((await fs.readFile(path.join(cpuDir, 'cpu.max'), 'utf8')).trim(), '50000 100000');
  } else {
    assert.equal((await fs.readFile(path.join(memDir, 'memory.limit_in_bytes'), 'utf8')).trim(), String(256 << 20));
    assert.equal((await fs.readFile(path.join(cpuDir, 'cpu.cfs_quota_us'), 'utf8')).trim(), '50000');
    assert.equal((await fs.readFile(path.join(cpuDir, 'cpu.shares'), 'utf8')).trim(), '512');
  }
  await setCgroupLimits(cg, { cpuQuotaUs: -1, memoryLimitBytes: 0 });
  await assert.rejects(setCgroupLimits(cg, { cpusetCpus: '0; rm' }), (e: unknown) => isKind(e, 'InvalidArgument'));

  // Two processes of ours in the cgroup: a shell and the sleep it forks.
  const sh = await start('/bin/sh', ['-c', 'read x; sleep 1000 & wait'], { stdio: ['pipe', 'ignore', 'ignore'] });
  children.push(sh);
  await addProcess(cg, sh.pid!);
  assert.equal((await cgroupsOfPid(sh.pid!)).get('memory') ?? (await cgroupsOfPid(sh.pid!)).get(''), `/${cg}`);
  sh.stdin!.end('go\n');
  for (let i = 0; i < 400 && (await listCgroupPids(cg)).length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  const pids = await listCgroupPids(cg);
  assert.equal(pids.length, 2);
  const stats = await readCgroupStats(cg);
  assert.equal(stats.pidsCurrent, 2);
  assert.ok((stats.memoryUsageBytes ?? 0) > 0);
  assert.ok((stats.memoryWorkingSetBytes ?? -1) >= 0);
  assert.ok(stats.cpuUsageNs !== undefined && stats.cpuUsageNs > 0n);
  assert.equal(await oomKilled(cg), false);

  await killCgroup(cg);
  assert.deepEqual(await listCgroupPids(cg), []);
  assert.equal((await waitChild(sh)).signal, 'SIGKILL');
  for (const p of pids) assert.equal(await isAlive(p), false);
  await removeCgroup(cg);
  assert.equal(await cgroupExists(cg), false);
  await removeCgroup(cg); // absent: fine
});

it('cgroupFileReader reads what readCgroupFile reads, and nothing for what is not there', async () => {
  const cg = `${parent}/reader`;
  await createCgroup(cg);
  try {
    const l = await detectCgroups();
    const read = await cgroupFileReader(cg);
    const [controller, file] = l.mode === 'v2' ? ['memory', 'memory.max'] : ['memory', 'memory.limit_in_bytes'];
    const dir = (await controllerDir(cg, controller))!;
    // The concatenated dir is the one path.join gives.
    const root = l.mode === 'v2' ? l.unified! : l.v1.get(controller)!;
    assert.equal(dir, path.join(root, cg));
    assert.equal(read(controller, file), await readCgroupFile(path.join(dir, file)));
    assert.equal(read(controller, 'no.such.file'), undefined);
    // v1: a controller with no hierarchy has no files (v2 has one tree for every controller).
    if (l.mode !== 'v2') assert.equal(read('no-such-controller', file), undefined);
    // A cgroup that does not exist: every file is absent, and its stats have no counters.
    const gone = await cgroupFileReader(`${parent}/never-made`);
    assert.equal(gone(controller, file), undefined);
    const none = await readCgroupStats(`${parent}/never-made`);
    assert.deepEqual(
      Object.entries(none).filter(([, v]) => v !== undefined),
      [],
    );
    await assert.rejects(cgroupFileReader('../etc'), (e: unknown) => isKind(e, 'InvalidArgument'));
  } finally {
    await removeCgroup(cg);
  }
});

it('rejects unsafe cgroup paths', async () => {
  for (const bad of ['', '../etc', 'a/../../b', 'a//b', 'a/b c']) {
    await assert.rejects(createCgroup(bad), (e: unknown) => isKind(e, 'InvalidArgument'), bad);
  }
});

it('seeds new cpuset levels, finds processes of descendants, and removes nested cgroups in every hierarchy', async () => {
  const cg = `${parent}/tree/a`;
  await createCgroup(cg);
  const l = await detectCgroups();
  const cpuset = await controllerDir(cg, 'cpuset');
  if (l.mode !== 'v2' && cpuset) {
    // Both new levels inherited their parent's cpus and mems: a cpuset cgroup with empty ones refuses tasks.
    for (const dir of [path.dirname(cpuset), cpuset]) {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        assert.notEqual((await fs.readFile(path.join(dir, f), 'utf8')).trim(), '', `${dir}/${f}`);
      }
    }
  }
  // A child of the new cgroup in every hierarchy, as a runtime makes for a container.
  await createCgroup(`${cg}/c1`);
  const sh = await start('/bin/sh', ['-c', 'read x'], { stdio: ['pipe', 'ignore', 'ignore'] });
  children.push(sh);
  await addProcess(`${cg}/c1`, sh.pid!);
  assert.deepEqual(await listCgroupPids(cg), [], 'not in the cgroup itself');
  assert.deepEqual(await listCgroupPids(`${parent}/tree`, { recursive: true }), [sh.pid]);
  // Busy: the removal gives up on the deadline, with the process's cgroup left in place.
  await assert.rejects(removeCgroup(`${parent}/tree`, { timeoutMs: 200 }), (e: unknown) =>
    isKind(e, 'FailedPrecondition'),
  );
  assert.ok(await cgroupExists(`${cg}/c1`));
  await killCgroup(`${parent}/tree`);
  await waitChild(sh);
  await removeCgroup(`${parent}/tree`);
  for (const p of [`${parent}/tree`, cg, `${cg}/c1`]) assert.equal(await cgroupExists(p), false, p);
  assert.deepEqual(await listChildCgroups(parent), []);
});
