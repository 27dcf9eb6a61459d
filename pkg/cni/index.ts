/**
 * pkg/cni: CNI for every containerizer — the config dir scan and default network choice, plugin execution
 * (ADD/DEL/CHECK with CNI_ARGS and runtimeConfig capabilities), result parsing, and crash-safe attachments
 * of pod network namespaces (CniAttacher). It imports only pkg/sys and pkg/util.
 */
export { asCniRecord, CniAttacher, type CniAttacherOptions, type CniRecord, type CniRecordSink } from './attacher.js';
export {
  type CapabilityContext,
  EGRESS_BANDWIDTH,
  INGRESS_BANDWIDTH,
  type PodNetworkSpec,
  parseBandwidth,
  podCapabilityArgs,
  podCniArgs,
} from './capabilities.js';
export { type CniNetwork, type CniScan, type CniScanReason, defaultCniNetwork, scanCniConfigs } from './config.js';
export {
  addNetworkList,
  type CniAttachment,
  type CniCommand,
  checkNetworkList,
  checkSupported,
  delNetworkList,
  describePluginError,
  formatCniArgs,
  type InvokeOptions,
  invokePlugin,
  isInertPortmap,
  PLUGIN_TIMEOUT_MS,
  pluginConfig,
} from './exec.js';
export { type CniIp, type CniResult, compareVersions, parseCniResult, podIps, usesIpsList } from './result.js';
