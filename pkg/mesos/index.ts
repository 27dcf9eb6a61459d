export * from './containerizer/index.js';
export { ISOLATOR_NAMES } from './isolators/index.js';
export { DEFAULT_NETWORK_FILE, installDefaultNetwork } from './isolators/network/index.js';
export {
  APPC_PREFIX,
  configuredCredentials,
  ImageStore,
  type ImageStoreOptions,
} from './provisioner/stores/index.js';
