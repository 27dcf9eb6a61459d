import type { UpdateRuntimeConfigRequest, UpdateRuntimeConfigResponse } from '../gen/cri/v1/api.js';
import type { CriDeps } from '../deps.js';

/** UpdateRuntimeConfig: stores the pod CIDR kubelet hands out to this node. */
export function updateRuntimeConfig(deps: CriDeps) {
  return async (req: UpdateRuntimeConfigRequest): Promise<UpdateRuntimeConfigResponse> => {
    await deps.runtimeConfig.setPodCidr(req.runtimeConfig?.networkConfig?.podCidr ?? '');
    return {};
  };
}
