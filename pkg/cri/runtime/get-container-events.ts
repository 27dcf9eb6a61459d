import type { CriDeps } from '../deps.js';
import type { ContainerEventResponse, GetEventsRequest } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';

/**
 * GetContainerEvents: streams CONTAINER_CREATED/STARTED/STOPPED/DELETED events, each with its pod's status
 * and the statuses of the pod's containers, until the client cancels. A subscriber that falls too far
 * behind is ended with RESOURCE_EXHAUSTED (see pkg/cri/events.ts); the runtime never waits for it.
 */
export function getContainerEvents(deps: CriDeps) {
  return async (_req: GetEventsRequest, ctx: CallContext, send: (e: ContainerEventResponse) => void): Promise<void> => {
    const sub = deps.events.subscribe();
    try {
      for (;;) send(await sub.next(ctx.signal));
    } finally {
      sub.close();
    }
  };
}
