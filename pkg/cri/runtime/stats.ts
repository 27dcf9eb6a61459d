/**
 * Usage sampling shared by the four stats verbs: one containerizer call per container or pod, run in
 * parallel, never holding a lock, so one stuck container cannot stall the others (a container that is
 * gone or not running simply has no figures).
 */
import type { ContainerUsage } from '../../containerizer/index.js';
import type { CriDeps } from '../deps.js';
import type { ContainerStats, PodSandboxStats } from '../gen/cri/v1/api.js';
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

/** Stats of one pod and of its running or created containers. */
export async function statsOfPod(deps: CriDeps, rec: SandboxRecord): Promise<PodSandboxStats> {
  const id = rec.meta.id;
  const live = deps.containers.ofPod(id).filter((c) => c.status.state === 'running' || c.status.state === 'created');
  const [usage, containers] = await Promise.all([
    (async () => {
      if (rec.status.state !== 'ready') return undefined;
      try {
        return await deps.containerizer.select(rec.meta.spec.runtimeHandler).podUsage(id);
      } catch {
        return undefined;
      }
    })(),
    Promise.all(live.map((c) => statsOfContainer(deps, c))),
  ]);
  return toPodSandboxStats(rec, usage, containers);
}
