import type { RuntimeCondition, StatusRequest, StatusResponse } from '../gen/cri/v1/api.js';
import type { CriDeps } from '../deps.js';
import type { CallContext } from '../instrumented.js';

/** Status: RuntimeReady and NetworkReady from the containerizers' real readiness; verbose adds the config. */
export function status(deps: CriDeps) {
  return async (req: StatusRequest, ctx: CallContext): Promise<StatusResponse> => {
    const c = await deps.containerizer.conditions(ctx.signal);
    const conditions: RuntimeCondition[] = [
      { type: 'RuntimeReady', status: c.runtime.ready, reason: c.runtime.reason, message: c.runtime.message },
      { type: 'NetworkReady', status: c.network.ready, reason: c.network.reason, message: c.network.message },
    ];
    const info: Record<string, string> = {};
    if (req.verbose) {
      info.config = JSON.stringify(deps.info.config);
      info.runtimeConfig = JSON.stringify(deps.runtimeConfig.get());
      info.cgroupDriver = JSON.stringify(deps.info.cgroupDriver);
    }
    return {
      status: { conditions },
      info,
      runtimeHandlers: (await deps.containerizer.availableHandlers(ctx.signal)).map(({ name, containerizer }) => ({
        name,
        features: { ...containerizer.features },
      })),
      features: { supplementalGroupsPolicy: false, userNamespacesHostNetwork: false, mountOptions: false },
    };
  };
}
