import type { RuntimeCondition, RuntimeHandler, StatusRequest, StatusResponse } from '../gen/cri/v1/api.js';
import type { CriDeps } from '../deps.js';
import type { CallContext } from '../instrumented.js';

/**
 * Each named handler with its features, preceded by the default handler `""` (what pods without a
 * RuntimeClass get): kubelet looks features up by the pod's handler name, so "" must be listed too.
 */
/** The default handler `""` (kubelet looks features up by the pod's handler name) and every available one. */
async function runtimeHandlers(deps: CriDeps, signal: AbortSignal): Promise<RuntimeHandler[]> {
  const named = (await deps.containerizer.availableHandlers(signal)).map(({ name, containerizer }) => ({
    name,
    features: { ...containerizer.features },
  }));
  return [{ name: '', features: { ...deps.containerizer.select('').features } }, ...named];
}

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
      runtimeHandlers: await runtimeHandlers(deps, ctx.signal),
      features: { supplementalGroupsPolicy: false, userNamespacesHostNetwork: false, mountOptions: false },
    };
  };
}
