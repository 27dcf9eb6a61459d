import { CgroupDriver, type RuntimeConfigRequest, type RuntimeConfigResponse } from '../gen/cri/v1/api.js';
import type { CriDeps } from '../deps.js';

/** RuntimeConfig: tells kubelet which cgroup driver to use, as detected on this host. */
export function runtimeConfig(deps: CriDeps) {
  return async (_req: RuntimeConfigRequest): Promise<RuntimeConfigResponse> => ({
    linux: { cgroupDriver: deps.info.cgroupDriver === 'systemd' ? CgroupDriver.SYSTEMD : CgroupDriver.CGROUPFS },
  });
}
