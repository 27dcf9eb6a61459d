import type { CriDeps } from '../deps.js';
import type { ListPodSandboxMetricsResponse } from '../gen/cri/v1/api.js';
import type { SandboxRecord } from '../store/sandbox.js';
import { metricsOfPod } from './stats.js';

/** The pods ListPodSandboxMetrics and StreamPodSandboxMetrics report: the ready ones. */
export function selectMetricsPods(deps: CriDeps): SandboxRecord[] {
  return deps.sandboxes.list().filter((r) => r.status.state === 'ready');
}

/**
 * ListPodSandboxMetrics: samples of every ready pod and its running containers, sampled in parallel from
 * the cgroup files and one /proc/<pid>/net/dev read per pod (cheap enough for kubelet's 10 s scrape).
 */
export function listPodSandboxMetrics(deps: CriDeps) {
  return async (): Promise<ListPodSandboxMetricsResponse> => ({
    podMetrics: await Promise.all(selectMetricsPods(deps).map((r) => metricsOfPod(deps, r))),
  });
}
