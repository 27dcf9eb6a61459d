import type { VersionRequest, VersionResponse } from '../gen/cri/v1/api.js';
import type { CriDeps } from '../deps.js';

/** The CRI protocol version ucri speaks, answered in `runtime_api_version`. */
export const CRI_API_VERSION = 'v1';
/** The kubelet-facing API version field: every runtime answers 0.1.0 here. */
const KUBELET_API_VERSION = '0.1.0';

/** Version: names the runtime and the CRI API version. */
export function version(deps: CriDeps) {
  return async (_req: VersionRequest): Promise<VersionResponse> => ({
    version: KUBELET_API_VERSION,
    runtimeName: 'ucri',
    runtimeVersion: deps.info.version,
    runtimeApiVersion: CRI_API_VERSION,
  });
}
