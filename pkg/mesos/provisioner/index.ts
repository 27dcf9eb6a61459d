/**
 * The provisioner of the Mesos containerizer: image stores (stores/) and rootfs backends (backends/) behind
 * the Provisioner contract (types.ts). Only pkg/mesos/containerizer/ imports this.
 */
export * from './types.js';
export {
  type BackendChoice,
  BIND_REQUIRED_DIRS,
  missingMountTargets,
  type OverlaySupport,
  parseBackendChoice,
} from './backends/index.js';
export { diskUsage, MesosProvisioner, type MesosProvisionerOptions } from './provisioner.js';
