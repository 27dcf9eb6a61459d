import { sendChunks } from '../chunks.js';
import type { CriDeps } from '../deps.js';
import type { StreamContainerStatsRequest, StreamContainerStatsResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { selectStatsContainers } from './list-container-stats.js';
import { statsOfContainer } from './stats.js';

/** StreamContainerStats: ListContainerStats' items, same filter, sampled chunk by chunk. */
export function streamContainerStats(deps: CriDeps) {
  return (req: StreamContainerStatsRequest, ctx: CallContext, send: (res: StreamContainerStatsResponse) => void) =>
    sendChunks(
      selectStatsContainers(deps, req.filter),
      (recs) => Promise.all(recs.map((r) => statsOfContainer(deps, r))),
      (containerStats) => ({ containerStats }),
      send,
      ctx.signal,
    );
}
