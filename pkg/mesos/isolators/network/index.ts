/**
 * Pod networking isolators: `network/cni` (CNI ADD/DEL/CHECK of pods' pinned network namespaces), the
 * readiness scan of the CNI config dir, and the default network `ucri serve --install-default-network` writes.
 */
export { CNI_ISOLATOR, type CniIsolatorOptions, CniIsolator, type CniRecord, cniIsolator } from './cni.js';
export { type CniNetwork, type CniScan, type CniScanReason, defaultCniNetwork, scanCniConfigs } from './cni-config.js';
export {
  configuredSubnets,
  DEFAULT_BRIDGE,
  DEFAULT_NETWORK_FILE,
  DEFAULT_SUBNET_CANDIDATES,
  type DefaultNetworkOptions,
  installDefaultNetwork,
  pickFreeSubnet,
} from './default-network.js';
export { type CniResult, parseCniResult, podIps } from './result.js';
