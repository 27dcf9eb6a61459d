/**
 * Usage sampling shared by the four stats verbs: one containerizer call per container or pod, run in
 * parallel, never holding a lock, so one stuck container cannot stall the others (a container that is
 * gone or not running simply has no figures).
 */
import type { ContainerUsage } from '../../containerizer/index.js';
import type { CriDeps } from '../deps.js';
import type { ContainerStats, PodSandboxMetrics, PodSandboxStats } from '../gen/cri/v1/api.js';
import { containerMetrics, podMetrics } from '../metrics/index.js';
import type { ContainerRecord } from '../store/container.js';
import type { SandboxRecord } from '../store/sandbox.js';
import { toContainerStats, toPodSandboxStats } from '../translate/stats.js';
import { containerizerOf } from './lifecycle.js';

async function containerUsage(deps: CriDeps, rec: ContainerRecord): Promise<ContainerUsage | undefined> {
  if (rec.status.state !== 'running' && rec.status.state !== 'created') return undefined;
  try {
    return await containerizerOf(deps, rec).usage(rec.meta.id);
  } catch {
    return undefined;
  }
}

/** Stats of one container (attributes only when it has no figures). */
export async function statsOfContainer(deps: CriDeps, rec: ContainerRecord): Promise<ContainerStats> {
  return toContainerStats(rec, await containerUsage(deps, rec));
}

/** The usage of a ready pod's own cgroup and network; undefined when it has none. */
async function podUsage(deps: CriDeps, rec: SandboxRecord): Promise<ContainerUsage | undefined> {
  if (rec.status.state !== 'ready') return undefined;
  try {
    return await deps.containerizer.select(rec.meta.spec.runtimeHandler).podUsage(rec.meta.id);
  } catch {
    return undefined;
  }
}

/** Metric samples of one pod and of its running containers (ListPodSandboxMetrics). */
export async function metricsOfPod(deps: CriDeps, rec: SandboxRecord): Promise<PodSandboxMetrics> {
  const live = deps.containers.ofPod(rec.meta.id).filter((c) => c.status.state === 'running');
  const [usage, containers] = await Promise.all([
    podUsage(deps, rec),
    Promise.all(
      live.map(async (c) => {
        const u = await containerUsage(deps, c);
        const who = { id: c.meta.id, name: c.meta.spec.name, image: c.meta.image.display };
        return u ? containerMetrics(who, u) : undefined;
      }),
    ),
  ]);
  return podMetrics(
    rec.meta.id,
    usage,
    containers.filter((c) => c !== undefined),
  );
}

/** Stats of one pod and of its running or created containers. */
export async function statsOfPod(deps: CriDeps, rec: SandboxRecord): Promise<PodSandboxStats> {
  const id = rec.meta.id;
  const live = deps.containers.ofPod(id).filter((c) => c.status.state === 'running' || c.status.state === 'created');
  const [usage, containers] = await Promise.all([
    podUsage(deps, rec),
    Promise.all(live.map((c) => statsOfContainer(deps, c))),
  ]);
  return toPodSandboxStats(rec, usage, containers);
}
