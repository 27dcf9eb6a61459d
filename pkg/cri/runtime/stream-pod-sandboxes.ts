import { sendChunks } from '../chunks.js';
import type { CriDeps } from '../deps.js';
import type { StreamPodSandboxesRequest, StreamPodSandboxesResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { selectPodSandboxes } from './list-pod-sandbox.js';

/** StreamPodSandboxes: ListPodSandbox's items, same filter, in chunks. */
export function streamPodSandboxes(deps: CriDeps) {
  return (req: StreamPodSandboxesRequest, ctx: CallContext, send: (res: StreamPodSandboxesResponse) => void) =>
    sendChunks(
      selectPodSandboxes(deps, req.filter),
      (items) => items,
      (podSandboxes) => ({ podSandboxes }),
      send,
      ctx.signal,
    );
}
