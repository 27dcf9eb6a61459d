import { sendChunks } from '../chunks.js';
import type { CriDeps } from '../deps.js';
import type { StreamPodSandboxMetricsResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { selectMetricsPods } from './list-pod-sandbox-metrics.js';
import { metricsOfPod } from './stats.js';

/** StreamPodSandboxMetrics: ListPodSandboxMetrics' items, sampled chunk by chunk. */
export function streamPodSandboxMetrics(deps: CriDeps) {
  return (_req: unknown, ctx: CallContext, send: (res: StreamPodSandboxMetricsResponse) => void) =>
    sendChunks(
      selectMetricsPods(deps),
      (recs) => Promise.all(recs.map((r) => metricsOfPod(deps, r))),
      (podSandboxMetrics) => ({ podSandboxMetrics }),
      send,
      ctx.signal,
    );
}
