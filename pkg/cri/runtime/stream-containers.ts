import { sendChunks } from '../chunks.js';
import type { CriDeps } from '../deps.js';
import type { StreamContainersRequest, StreamContainersResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { selectContainers } from './list-containers.js';

/** StreamContainers: ListContainers' items, same filter, in chunks. */
export function streamContainers(deps: CriDeps) {
  return (req: StreamContainersRequest, ctx: CallContext, send: (res: StreamContainersResponse) => void) =>
    sendChunks(
      selectContainers(deps, req.filter),
      (items) => items,
      (containers) => ({ containers }),
      send,
      ctx.signal,
    );
}
