/**
 * `make bench`: ucri and containerd side by side in one run, with the project's own CRI client, the same
 * images from one local registry, the same CNI config and the same sequence of calls. Prints, per measure,
 * both runtimes' median, p90 and p99 and the ratio ucri/containerd, and writes the same as JSON under
 * bench-results/. Timings are measurements, never pass/fail. Run it under `flock /tmp/ucri-bench.lock`.
 *
 * Environment: BENCH_QUICK=1 (small counts, for iteration), BENCH_POD_CYCLES, BENCH_AGE_CYCLES (pod cycles
 * done before the "after load" memory figure, default 1000), BENCH_UCRI_NODE_ARGS (node flags of the daemon, e.g. --cpu-prof),
 * BENCH_UCRI_TRACE and BENCH_UCRI_PROFILE (the daemon's UCRI_TRACE and UCRI_PROFILE), BENCH_UCRI_FLAGS (extra
 * daemon flags, for an A/B of one setting such as --container_monitor=conmon), BENCH_ONLY=ucri (skip
 * containerd, for profiling only: no ratios), BENCH_DOCKER=1 (adds pod start through ucri's `mesos` and
 * `docker` handlers and containerd side by side, against a private dockerd; see docker.ts), BENCH_DOCKER=only
 * (that measure alone), BENCH_PART=stats (only ListContainerStats and
 * ListPodSandboxMetrics with 50 running containers, after the warm-up), BENCH_PART=memory (only the memory measures:
 * idle, 20 pods, after load; the latency measures are skipped), BENCH_PART=pull (only the pull of the large image:
 * one untimed pull each, then BENCH_PULL_ROUNDS rounds, default 6, alternating which runtime goes first).
 * BENCH_PULL_GAP_MS: a pause before each timed pull of the large image (not timed), e.g. 2000 so that ucri's
 * layer worker thread, which ends 1 s after its last job, has ended: the cold case the full sequence's pull is
 * (docs/performance.md, "PullImage cold start, phase 8"); without it the pull-only rounds find it running.
 * BENCH_UCRI_PROGRAM: run this program as ucri's daemon (another build's launcher; see ucri.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { configureLogging } from '../../pkg/util/index.js';
import { PullImageRequest } from '../../test/support/cri-client.js';
import { ensureContainerd, startContainerd } from './containerd.js';
import { BENCH_DOCKER, type PodStarter, podStarts, podStartTable, startBenchDockerd } from './docker.js';
import { startBenchEnv } from './env.js';
import {
  containerCycles,
  execAndLists,
  fillPods,
  imageQueries,
  type MeasureContext,
  podBurst,
  podCycles,
  pullOnce,
  removePod,
  type Samples,
  statsAndMetrics,
} from './measures.js';
import { helperProcesses, type Memory, memoryOf, memoryOfAll } from './memory.js';
import { type MemoryRow, report } from './report.js';
import type { BenchRuntime } from './runtime.js';
import { timed } from './stats.js';
import { startUcri } from './ucri.js';
import type { TestDockerd } from '../../test/support/dockerd.js';

const num = (name: string, dflt: number): number => {
  const v = process.env[name];
  return v && /^\d+$/.test(v) ? Number(v) : dflt;
};

const QUICK = process.env.BENCH_QUICK === '1';
const COUNTS = {
  podCycles: num('BENCH_POD_CYCLES', QUICK ? 30 : 200),
  containerCycles: QUICK ? 20 : 100,
  exec: QUICK ? 20 : 100,
  imageQueries: QUICK ? 50 : 200,
  burst: 20,
  burstRounds: QUICK ? 1 : 3,
  pullRounds: num('BENCH_PULL_ROUNDS', process.env.BENCH_PART === 'pull' ? 6 : QUICK ? 1 : 2),
  pullGapMs: num('BENCH_PULL_GAP_MS', 0),
  ageCycles: num('BENCH_AGE_CYCLES', QUICK ? 100 : 1000),
  podStarts: BENCH_DOCKER ? (QUICK ? 10 : 40) : 0,
  stats: QUICK ? 20 : 100,
};
const ONLY_UCRI = process.env.BENCH_ONLY === 'ucri';
/** BENCH_PART=stats: only the stats/metrics part; memory: only the memory measures; pull: only the large pull. */
const PART = process.env.BENCH_PART ?? 'all';
const ALL = PART === 'all';

function progress(msg: string): void {
  process.stdout.write(`   … ${new Date().toISOString().slice(11, 19)} ${msg}\n`);
}

/** Runs `fn` for each runtime, in an order that flips with `round`, so neither always goes first. */
async function both<T>(
  rts: BenchRuntime[],
  round: number,
  fn: (rt: BenchRuntime) => Promise<T>,
): Promise<Map<string, T>> {
  const out = new Map<string, T>();
  const order = round % 2 === 0 ? rts : [...rts].reverse();
  for (const rt of order) out.set(rt.name, await fn(rt));
  return out;
}

function merge(into: Map<string, Samples>, from: Map<string, Samples>): void {
  for (const [rt, s] of from) {
    const dst = into.get(rt) ?? {};
    for (const [k, v] of Object.entries(s)) dst[k] = [...(dst[k] ?? []), ...v];
    into.set(rt, dst);
  }
}

/** Memory with the burst's pods running. */
interface MemSnap {
  daemon: Memory;
  helpers: Memory;
  monitors: number;
  others: number;
}

async function daemonMemory(rt: BenchRuntime): Promise<Memory> {
  return memoryOf(rt.pid);
}

async function main(): Promise<number> {
  configureLogging({ silent: true });
  const startedAt = new Date();
  const load0 = os.loadavg();
  const root = await mkdtemp(path.join(os.tmpdir(), 'ucri-bench-'));
  const version = ONLY_UCRI ? 'skipped' : await ensureContainerd(progress);
  progress(`${version}; counts ${JSON.stringify(COUNTS)}; load ${load0.map((l) => l.toFixed(2)).join(' ')}`);
  const env = await startBenchEnv(root, progress);
  const rts: BenchRuntime[] = [];
  let dockerd: TestDockerd | undefined;
  try {
    const ctx: MeasureContext = { busybox: env.busybox, large: env.large, logRoot: path.join(root, 'logs') };
    progress('starting ucri and containerd');
    // BENCH_UCRI_FLAGS: extra daemon flags for an A/B of one setting (e.g. --container_monitor=conmon).
    let ucriFlags: string[] = (process.env.BENCH_UCRI_FLAGS ?? '').split(/\s+/).filter(Boolean);
    if (BENCH_DOCKER) {
      const d = await startBenchDockerd(env.pause);
      dockerd = d.dockerd;
      ucriFlags = [...ucriFlags, ...d.flags];
      progress(`dockerd pid ${dockerd.pid()} on ${dockerd.socket} for ucri's docker handler`);
    }
    rts.push(await startUcri(env.cniConfigDir, ucriFlags));
    if (!ONLY_UCRI) {
      rts.push(
        await startContainerd({
          root: path.join(root, 'containerd'),
          cniConfigDir: env.cniConfigDir,
          sandboxImage: env.pause,
          registryHost: env.registry.host,
        }),
      );
    }
    const samples = new Map<string, Samples>();
    const memory: MemoryRow[] = [];
    const notes: string[] = [];
    if (!['all', 'stats', 'memory', 'pull'].includes(PART)) {
      throw new Error(`BENCH_PART must be stats, memory, pull or unset, not "${PART}"`);
    }
    let cyclesDone = 0;

    if (PART === 'pull') {
      progress('one untimed pull of the large image each (warm-up)');
      await both(rts, 0, (rt) => pullOnce(rt, env.large));
    } else progress('pulling busybox and pause, warming up');
    await both(rts, 0, async (rt) => {
      if (PART === 'pull') return;
      for (const image of [env.busybox, env.pause]) {
        await rt.client.image.pullImage(PullImageRequest.fromPartial({ image: { image } }));
      }
      await podCycles(rt, ctx, 3);
      await containerCycles(rt, ctx, 2, 1);
    });
    cyclesDone += 3;
    // Pod start by handler: ucri mesos, ucri docker, containerd.
    let podStartText = '';
    if (BENCH_DOCKER && PART !== 'pull') {
      const ucri = rts.find((r) => r.name === 'ucri')!;
      const starters: PodStarter[] = [
        { label: 'ucri mesos', rt: ucri, handler: 'mesos' },
        { label: 'ucri docker', rt: ucri, handler: 'docker' },
        ...rts.filter((r) => r.name === 'containerd').map((rt) => ({ label: 'containerd', rt, handler: '' })),
      ];
      progress(`pod start (run + create + start) × ${COUNTS.podStarts} per handler`);
      podStartText = podStartTable(await podStarts(starters, ctx, COUNTS.podStarts), 'containerd');
      if (BENCH_DOCKER === 'only') {
        process.stdout.write(`\n${podStartText}\n`);
        return 0;
      }
    }

    await sleep(2000);
    const idle = await both(rts, 0, daemonMemory);
    memory.push({ name: 'daemon idle', values: idle });

    if (ALL || PART === 'stats') {
      progress(`ListContainerStats/ListPodSandboxMetrics with 50 running containers × ${COUNTS.stats}`);
      for (let r = 0; r < 2; r++) {
        merge(samples, await both(rts, r, (rt) => statsAndMetrics(rt, ctx, COUNTS.stats / 2, r === 0 ? notes : [])));
      }
    }

    if (ALL) await latencies();
    if (PART === 'pull') await pulls();
    if (ALL || PART === 'memory') await burstAndMemory();
    async function latencies(): Promise<void> {
      progress(`ImageStatus/ListImages × ${COUNTS.imageQueries}`);
      for (let r = 0; r < 2; r++)
        merge(samples, await both(rts, r, (rt) => imageQueries(rt, ctx, COUNTS.imageQueries / 2)));

      progress(`pod cycles × ${COUNTS.podCycles}`);
      const chunks = 4;
      for (let r = 0; r < chunks; r++) {
        merge(samples, await both(rts, r, (rt) => podCycles(rt, ctx, Math.ceil(COUNTS.podCycles / chunks))));
      }
      cyclesDone += chunks * Math.ceil(COUNTS.podCycles / chunks);

      progress(`container cycles × ${COUNTS.containerCycles}, 2 in parallel`);
      for (let r = 0; r < 2; r++) {
        merge(samples, await both(rts, r, (rt) => containerCycles(rt, ctx, COUNTS.containerCycles / 2, 2)));
      }

      progress(`ExecSync and Exec over SPDY × ${COUNTS.exec}`);
      for (let r = 0; r < 2; r++) merge(samples, await both(rts, r, (rt) => execAndLists(rt, ctx, COUNTS.exec / 2)));

      await pulls();
    }
    async function pulls(): Promise<void> {
      const gap = COUNTS.pullGapMs > 0 ? `, ${COUNTS.pullGapMs} ms pause before each` : '';
      progress(`pull of the large image (${(env.largeBytes / 1e6).toFixed(1)} MB) × ${COUNTS.pullRounds}${gap}`);
      for (let r = 0; r < COUNTS.pullRounds; r++) {
        const res = await both(rts, r, async (rt) => {
          if (COUNTS.pullGapMs > 0) await sleep(COUNTS.pullGapMs);
          return pullOnce(rt, env.large);
        });
        merge(samples, new Map([...res].map(([n, ms]) => [n, { 'PullImage large': [ms] }])));
      }
    }

    async function burstAndMemory(): Promise<void> {
      progress(`${COUNTS.burst} RunPodSandbox at once × ${COUNTS.burstRounds}`);
      for (let r = 0; r < COUNTS.burstRounds; r++) {
        const last = r === COUNTS.burstRounds - 1;
        const res = await both(rts, r, async (rt) => {
          const burst = await podBurst(rt, ctx, COUNTS.burst);
          let mem: MemSnap | undefined;
          if (last) {
            await fillPods(rt, ctx, burst.pods);
            await sleep(1000);
            const h = await helperProcesses(rt.isMonitor, (p) => p.cmdline.startsWith('sleep\0'));
            mem = {
              daemon: await memoryOf(rt.pid),
              helpers: await memoryOfAll([...h.monitors, ...h.others]),
              monitors: h.monitors.length,
              others: h.others.length,
            };
          }
          const teardown = await timed(() => Promise.all(burst.pods.map((id) => removePod(rt, id))));
          return { burst: burst.ms, teardown: teardown.ms, mem };
        });
        const s = new Map<string, Samples>();
        for (const [name, v] of res) {
          s.set(name, {
            [`${COUNTS.burst} RunPodSandbox at once`]: [v.burst],
            [`${COUNTS.burst} pods removed at once`]: [v.teardown],
          });
        }
        merge(samples, s);
        if (last) {
          const pick = (f: (m: MemSnap) => Memory): Map<string, Memory> =>
            new Map([...res].map(([n, v]) => [n, f(v.mem!)]));
          memory.push({ name: `daemon with ${COUNTS.burst} pods`, values: pick((m) => m.daemon) });
          memory.push({
            name: `helpers of ${COUNTS.burst} pods`,
            values: pick((m) => m.helpers),
            note: [...res].map(([n, v]) => `${n}: ${v.mem?.monitors} monitors + ${v.mem?.others} others`).join('; '),
          });
          memory.push({
            name: 'helpers per pod',
            values: pick((m) => ({ rss: m.helpers.rss / COUNTS.burst, pss: m.helpers.pss / COUNTS.burst })),
          });
          memory.push({
            name: `daemon + helpers, ${COUNTS.burst} pods`,
            values: pick((m) => ({ rss: m.daemon.rss + m.helpers.rss, pss: m.daemon.pss + m.helpers.pss })),
          });
        }
      }

      const age = Math.max(0, COUNTS.ageCycles - cyclesDone);
      progress(`${age} more pod cycles (both runtimes at once, untimed) for the after-load memory figure`);
      await Promise.all(rts.map((rt) => podCycles(rt, ctx, age)));
      await sleep(5000);
      memory.push({
        name: `daemon idle after ${COUNTS.ageCycles} pod cycles`,
        values: await both(rts, 0, daemonMemory),
      });
    }

    const load1 = os.loadavg();
    const text = await report({
      startedAt,
      load: [load0, load1],
      containerd: version,
      counts: COUNTS,
      quick: QUICK,
      samples,
      memory,
      runtimes: rts.map((r) => r.name),
      notes,
    });
    process.stdout.write(text);
    if (podStartText) process.stdout.write(`\n${podStartText}\n`);
    return 0;
  } finally {
    for (const rt of rts.reverse()) await rt.close().catch((e) => progress(`closing ${rt.name}: ${e}`));
    await dockerd?.cleanup().catch((e) => progress(`dockerd cleanup: ${e}`));
    await env.close();
    await rm(root, { recursive: true, force: true }).catch(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
