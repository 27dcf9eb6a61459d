/**
 * Pod networking isolators: `network/cni` (the Mesos face of pkg/cni's attachments), the readiness scan of
 * the CNI config dir (re-exported from pkg/cni), and the default network `ucri serve --install-default-network`
 * writes.
 */
export {
  type CniNetwork,
  type CniResult,
  type CniScan,
  type CniScanReason,
  defaultCniNetwork,
  parseCniResult,
  podIps,
  scanCniConfigs,
} from '../../../cni/index.js';
export { CNI_ISOLATOR, type CniIsolatorOptions, CniIsolator, type CniRecord, cniIsolator } from './cni.js';
export {
  configuredSubnets,
  DEFAULT_BRIDGE,
  DEFAULT_NETWORK_FILE,
  DEFAULT_SUBNET_CANDIDATES,
  type DefaultNetworkOptions,
  installDefaultNetwork,
  pickFreeSubnet,
} from './default-network.js';
