/**
 * The Docker containerizer in `make bench` (BENCH_DOCKER=1, or BENCH_DOCKER=only for this measure alone):
 * pod start — RunPodSandbox, then CreateContainer and StartContainer of one container — through ucri's
 * `mesos` handler, its `docker` handler (a private dockerd the bench starts and stops by PID) and
 * containerd, side by side, each ratio against containerd from the same run.
 */
import { ContainerState } from '../../test/support/cri-client.js';
import { startDockerd, type TestDockerd } from '../../test/support/dockerd.js';
import { type MeasureContext, podConfig, removePod, retried, sleeperConfig } from './measures.js';
import type { BenchRuntime } from './runtime.js';
import { summarize, table, timed } from './stats.js';

export const BENCH_DOCKER = process.env.BENCH_DOCKER ?? '';

/** One way of starting pods: a runtime and the CRI runtime handler asked for. */
export interface PodStarter {
  label: string;
  rt: BenchRuntime;
  handler: string;
}

/** A private dockerd for the `docker` handler, and the ucri flags that use it. */
export async function startBenchDockerd(pauseImage: string): Promise<{ dockerd: TestDockerd; flags: string[] }> {
  const dockerd = await startDockerd();
  return {
    dockerd,
    flags: ['--containerizers=mesos,docker', `--docker_socket=${dockerd.socket}`, `--pause_image=${pauseImage}`],
  };
}

/** One pod start (timed) and its removal (not timed). */
async function podStart(p: PodStarter, ctx: MeasureContext): Promise<number> {
  const c = p.rt.client;
  const config = await podConfig(ctx, p.rt, `start-${p.handler || 'default'}`);
  let podSandboxId = '';
  const t = await timed(async () => {
    ({ podSandboxId } = await c.runtime.runPodSandbox({ config, runtimeHandler: p.handler }));
    const { containerId } = await c.runtime.createContainer({
      podSandboxId,
      config: sleeperConfig(ctx.busybox),
      sandboxConfig: config,
    });
    await c.runtime.startContainer({ containerId });
    return containerId;
  });
  const st = await c.runtime.containerStatus({ containerId: t.value, verbose: false });
  if (st.status?.state !== ContainerState.CONTAINER_RUNNING) {
    throw new Error(`${p.label}: container not running after StartContainer (${st.status?.state})`);
  }
  await removePod(p.rt, podSandboxId);
  return t.ms;
}

/** `n` pod starts per starter, in rounds whose order rotates so none always goes first. */
export async function podStarts(
  starters: PodStarter[],
  ctx: MeasureContext,
  n: number,
): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>(starters.map((s) => [s.label, []]));
  // Warm-up (not counted): dockerd pulls the pause and busybox images on its first pod.
  for (const s of starters) await retried(s.rt, () => podStart(s, ctx));
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < starters.length; k++) {
      const s = starters[(i + k) % starters.length]!;
      out.get(s.label)!.push(await retried(s.rt, () => podStart(s, ctx)));
    }
  }
  return out;
}

/** The side-by-side table: each starter's median, p90, p99 and its ratios against `baseline`. */
export function podStartTable(samples: Map<string, number[]>, baseline: string): string {
  const f1 = (v: number): string => (Number.isNaN(v) ? '-' : v.toFixed(1));
  const fr = (a: number, b: number | undefined): string =>
    b === undefined || b === 0 ? '-' : `${(a / b).toFixed(2)}×`;
  const base = samples.get(baseline);
  const b = base && base.length > 0 ? summarize(base) : undefined;
  const rows: string[][] = [
    ['pod start: run + create + start (ms)', 'n', 'med', 'p90', 'p99', `ratio med vs ${baseline}`, 'ratio p99'],
  ];
  for (const [label, values] of samples) {
    const s = summarize(values);
    rows.push([label, String(s.n), f1(s.median), f1(s.p90), f1(s.p99), fr(s.median, b?.median), fr(s.p99, b?.p99)]);
  }
  return table(rows);
}
