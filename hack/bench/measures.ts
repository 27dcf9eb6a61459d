/**
 * The measures of `make bench`, each run against one runtime with the same client calls and configs. A
 * measure returns samples in milliseconds per name; the caller runs it for both runtimes and compares.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { runRemoteCommandSpdy } from '../../pkg/cri/streaming/index.js';
import {
  ContainerConfig,
  grpc,
  ImageSpec,
  PodSandboxConfig,
  PullImageRequest,
  statusOf,
} from '../../test/support/cri-client.js';
import type { BenchRuntime } from './runtime.js';
import { timed } from './stats.js';

export type Samples = Record<string, number[]>;

/** What every measure gets besides the runtime. */
export interface MeasureContext {
  busybox: string;
  large: string;
  /** Pod log directories go under here (the client creates them, as kubelet does). */
  logRoot: string;
}

let seq = 0;

const spec = (image: string): ImageSpec => ImageSpec.fromPartial({ image });

/** A pod as kubelet asks for one without shareProcessNamespace: each container has its own PID namespace. */
export async function podConfig(ctx: MeasureContext, rt: BenchRuntime, tag: string): Promise<PodSandboxConfig> {
  const n = `${tag}-${++seq}`;
  const logDirectory = path.join(ctx.logRoot, rt.name, n);
  await mkdir(logDirectory, { recursive: true });
  return PodSandboxConfig.fromPartial({
    metadata: { name: `bench-${n}`, namespace: 'bench', uid: `uid-${n}`, attempt: 0 },
    hostname: `bench-${seq}`,
    logDirectory,
    linux: { securityContext: { namespaceOptions: { pid: 1 /* CONTAINER */ } } },
  });
}

export function sleeperConfig(image: string, name = 'sleeper'): ContainerConfig {
  return ContainerConfig.fromPartial({
    metadata: { name, attempt: 0 },
    image: { image },
    command: ['sleep', '3600'],
    logPath: `${name}.log`,
    linux: { securityContext: { namespaceOptions: { pid: 1 } } },
  });
}

/** Adds `ms` under `name`. */
function add(s: Samples, name: string, ms: number): void {
  const list = s[name] ?? [];
  list.push(ms);
  s[name] = list;
}

async function time<T>(s: Samples, name: string, fn: () => Promise<T>): Promise<T> {
  const t = await timed(fn);
  add(s, name, t.ms);
  return t.value;
}

/**
 * Calls `fn` again (up to 3 times, as kubelet would on its next sync) when it fails. On this shared host
 * another process's iptables clean-up can remove a CNI chain under a DEL; a bench must not stop on that.
 * The retry's time counts in the sample; every retry is reported on stderr.
 */
export async function retried<T>(rt: BenchRuntime, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 3) throw err;
      process.stderr.write(`   ! ${rt.name}: retrying after: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
}

/** Removes a pod and everything in it (stop, remove). */
export async function removePod(rt: BenchRuntime, podSandboxId: string): Promise<void> {
  await retried(rt, () => rt.client.runtime.stopPodSandbox({ podSandboxId }));
  await retried(rt, () => rt.client.runtime.removePodSandbox({ podSandboxId }));
}

/** Runs `fn` in a fresh pod, removed afterwards whatever happens. */
async function inPod<T>(
  rt: BenchRuntime,
  ctx: MeasureContext,
  tag: string,
  fn: (podSandboxId: string, sandboxConfig: PodSandboxConfig) => Promise<T>,
): Promise<T> {
  const sandboxConfig = await podConfig(ctx, rt, tag);
  const { podSandboxId } = await rt.client.runtime.runPodSandbox({ config: sandboxConfig, runtimeHandler: '' });
  try {
    return await fn(podSandboxId, sandboxConfig);
  } finally {
    await removePod(rt, podSandboxId);
  }
}

/** `n` sequential pod cycles: RunPodSandbox, PodSandboxStatus, StopPodSandbox, RemovePodSandbox. */
export async function podCycles(rt: BenchRuntime, ctx: MeasureContext, n: number, s: Samples = {}): Promise<Samples> {
  const c = rt.client;
  for (let i = 0; i < n; i++) {
    const config = await podConfig(ctx, rt, 'cycle');
    const t0 = process.hrtime.bigint();
    const { podSandboxId } = await time(s, 'RunPodSandbox', () =>
      c.runtime.runPodSandbox({ config, runtimeHandler: '' }),
    );
    await time(s, 'PodSandboxStatus', () => c.runtime.podSandboxStatus({ podSandboxId, verbose: false }));
    await time(s, 'StopPodSandbox', () => retried(rt, () => c.runtime.stopPodSandbox({ podSandboxId })));
    await time(s, 'RemovePodSandbox', () => retried(rt, () => c.runtime.removePodSandbox({ podSandboxId })));
    add(s, 'pod cycle', Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return s;
}

/** `n` container cycles in one pod, `parallel` at a time: create, start, status, stop (timeout 0), remove. */
export async function containerCycles(
  rt: BenchRuntime,
  ctx: MeasureContext,
  n: number,
  parallel: number,
): Promise<Samples> {
  const c = rt.client;
  const s: Samples = {};
  return inPod(rt, ctx, 'ctr', async (podSandboxId, sandboxConfig) => {
    let next = 0;
    const worker = async (w: number): Promise<void> => {
      while (next < n) {
        const i = next++;
        const config = sleeperConfig(ctx.busybox, `c${w}-${i}`);
        const t0 = process.hrtime.bigint();
        const { containerId } = await time(s, 'CreateContainer', () =>
          c.runtime.createContainer({ podSandboxId, config, sandboxConfig }),
        );
        await time(s, 'StartContainer', () => c.runtime.startContainer({ containerId }));
        await time(s, 'ContainerStatus', () => c.runtime.containerStatus({ containerId, verbose: false }));
        await time(s, 'StopContainer', () => c.runtime.stopContainer({ containerId, timeout: 0n }));
        await time(s, 'RemoveContainer', () => c.runtime.removeContainer({ containerId }));
        add(s, 'container cycle', Number(process.hrtime.bigint() - t0) / 1e6);
      }
    };
    await Promise.all(Array.from({ length: parallel }, (_, w) => worker(w)));
    return s;
  });
}

/** One Exec of `echo hi` streamed over SPDY (the URL of the Exec verb, then the session); checks its output. */
async function execOverSpdy(rt: BenchRuntime, containerId: string): Promise<void> {
  const { url } = await rt.client.runtime.exec({
    containerId,
    cmd: ['echo', 'hi'],
    tty: false,
    stdin: false,
    stdout: true,
    stderr: true,
  });
  let out = '';
  const stdout = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  const code = await runRemoteCommandSpdy(url, { stdout, stderr: stdout, tty: false });
  if (code !== 0 || out !== 'hi\n')
    throw new Error(`${rt.name}: exec over SPDY gave exit ${code}, ${JSON.stringify(out)}`);
}

/**
 * ExecSync `echo hi` and Exec `echo hi` over SPDY (ucri's own SPDY client for both runtimes: containerd's
 * URLs speak SPDY too) `n` times each in a running container; also ListContainers and ListPodSandbox.
 */
export async function execAndLists(rt: BenchRuntime, ctx: MeasureContext, n: number): Promise<Samples> {
  const c = rt.client;
  const s: Samples = {};
  return inPod(rt, ctx, 'exec', async (podSandboxId, sandboxConfig) => {
    const { containerId } = await c.runtime.createContainer({
      podSandboxId,
      config: sleeperConfig(ctx.busybox),
      sandboxConfig,
    });
    await c.runtime.startContainer({ containerId });
    for (let i = 0; i < n; i++) {
      const r = await time(s, 'ExecSync echo hi', () =>
        c.runtime.execSync({ containerId, cmd: ['echo', 'hi'], timeout: 10n }),
      );
      if (r.exitCode !== 0 || Buffer.from(r.stdout).toString() !== 'hi\n') {
        throw new Error(`${rt.name}: exec echo hi gave exit ${r.exitCode}, stdout ${JSON.stringify(r.stdout)}`);
      }
      await time(s, 'Exec echo hi (SPDY)', () => execOverSpdy(rt, containerId));
      await time(s, 'ListContainers', () => c.runtime.listContainers({ filter: undefined }));
      await time(s, 'ListPodSandbox', () => c.runtime.listPodSandbox({ filter: undefined }));
    }
    return s;
  });
}

/** ImageStatus and ListImages `n` times each. */
export async function imageQueries(rt: BenchRuntime, ctx: MeasureContext, n: number): Promise<Samples> {
  const c = rt.client;
  const s: Samples = {};
  for (let i = 0; i < n; i++) {
    const st = await time(s, 'ImageStatus', () => c.image.imageStatus({ image: spec(ctx.busybox), verbose: false }));
    if (!st.image) throw new Error(`${rt.name}: ImageStatus found no ${ctx.busybox}`);
    await time(s, 'ListImages', () => c.image.listImages({ filter: undefined }));
  }
  return s;
}

/** 20 (or `n`) RunPodSandbox at once: the wall time of the burst, then every pod removed. */
export async function podBurst(
  rt: BenchRuntime,
  ctx: MeasureContext,
  n: number,
): Promise<{ ms: number; pods: string[] }> {
  const c = rt.client;
  const configs = await Promise.all(Array.from({ length: n }, () => podConfig(ctx, rt, 'burst')));
  const t = await timed(() =>
    Promise.all(configs.map((config) => c.runtime.runPodSandbox({ config, runtimeHandler: '' }))),
  );
  return { ms: t.ms, pods: t.value.map((r) => r.podSandboxId) };
}

/** Each pod of `pods` gets one running sleeper container. */
export async function fillPods(rt: BenchRuntime, ctx: MeasureContext, pods: readonly string[]): Promise<void> {
  const c = rt.client;
  for (const podSandboxId of pods) {
    const st = await c.runtime.podSandboxStatus({ podSandboxId, verbose: false });
    const sandboxConfig = await podConfig(ctx, rt, 'fill');
    if (st.status?.metadata) sandboxConfig.metadata = st.status.metadata;
    const { containerId } = await c.runtime.createContainer({
      podSandboxId,
      config: sleeperConfig(ctx.busybox),
      sandboxConfig,
    });
    await c.runtime.startContainer({ containerId });
  }
}

/** Pulls `image` (removing it first when present); returns the pull's milliseconds. */
export async function pullOnce(rt: BenchRuntime, image: string): Promise<number> {
  const c = rt.client;
  const st = await c.image.imageStatus({ image: spec(image), verbose: false });
  if (st.image) await c.image.removeImage({ image: spec(st.image.id) });
  const t = await timed(() =>
    c.image.pullImage(PullImageRequest.fromPartial({ image: { image } }), { timeoutMs: 600_000 }),
  );
  return t.ms;
}

/**
 * ListContainerStats and ListPodSandboxMetrics `n` times each with `pods` × `perPod` running sleepers (50 by
 * default, kubelet's polling of a busy node). A runtime that does not serve a verb (gRPC UNIMPLEMENTED, as
 * containerd before 2.0 for ListPodSandboxMetrics) gets a note instead of samples.
 */
export async function statsAndMetrics(
  rt: BenchRuntime,
  ctx: MeasureContext,
  n: number,
  notes: string[],
  pods = 10,
  perPod = 5,
): Promise<Samples> {
  const c = rt.client;
  const s: Samples = {};
  const ids: string[] = [];
  try {
    for (let p = 0; p < pods; p++) {
      const sandboxConfig = await podConfig(ctx, rt, 'stats');
      const { podSandboxId } = await c.runtime.runPodSandbox({ config: sandboxConfig, runtimeHandler: '' });
      ids.push(podSandboxId);
      for (let i = 0; i < perPod; i++) {
        const config = sleeperConfig(ctx.busybox, `s${i}`);
        const { containerId } = await c.runtime.createContainer({ podSandboxId, config, sandboxConfig });
        await c.runtime.startContainer({ containerId });
      }
    }
    const total = pods * perPod;
    const statsName = `ListContainerStats (${total} ctrs)`;
    const metricsName = `ListPodSandboxMetrics (${total} ctrs)`;
    let metrics = true;
    for (let i = 0; i < n; i++) {
      const r = await time(s, statsName, () => c.runtime.listContainerStats({ filter: undefined }));
      if (r.stats.length < total) throw new Error(`${rt.name}: ListContainerStats gave ${r.stats.length} of ${total}`);
      if (!metrics) continue;
      try {
        await time(s, metricsName, () => c.runtime.listPodSandboxMetrics({}));
      } catch (err) {
        metrics = false;
        delete s[metricsName];
        const code = statusOf(err);
        const what = code === grpc.status.UNIMPLEMENTED ? 'answers UNIMPLEMENTED' : `fails (gRPC code ${code})`;
        notes.push(`${rt.name}: ListPodSandboxMetrics ${what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return s;
  } finally {
    for (const id of ids) await removePod(rt, id);
  }
}
