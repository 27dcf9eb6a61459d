import { sendChunks } from '../chunks.js';
import type { CriDeps } from '../deps.js';
import type { StreamPodSandboxStatsRequest, StreamPodSandboxStatsResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { selectStatsPods } from './list-pod-sandbox-stats.js';
import { statsOfPod } from './stats.js';

/** StreamPodSandboxStats: ListPodSandboxStats' items, same filter, sampled chunk by chunk. */
export function streamPodSandboxStats(deps: CriDeps) {
  return (req: StreamPodSandboxStatsRequest, ctx: CallContext, send: (res: StreamPodSandboxStatsResponse) => void) =>
    sendChunks(
      selectStatsPods(deps, req.filter),
      (recs) => Promise.all(recs.map((r) => statsOfPod(deps, r))),
      (podSandboxStats) => ({ podSandboxStats }),
      send,
      ctx.signal,
    );
}
