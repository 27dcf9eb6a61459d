/**
 * What a pod tells its CNI plugins: CNI_ARGS with the kubelet keys, and the values of the well-known
 * capabilities (https://www.cni.dev/docs/conventions/) — `portMappings`, `bandwidth`, `ipRanges`, `dns` —
 * that a plugin receives in `runtimeConfig` only when it declares the capability.
 */
import { isIP } from 'node:net';
import { InvalidArgumentError, parseByteQuantity } from '../util/index.js';

/**
 * What CNI needs of a pod (a structural subset of the containerizer's PodSpec: pkg/cni sits below
 * pkg/containerizer and does not import it).
 */
export interface PodNetworkSpec {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  portMappings: Array<{ protocol: string; containerPort: number; hostPort: number; hostIp: string }>;
  annotations: Record<string, string>;
  dns: { servers: string[]; searches: string[]; options: string[] } | undefined;
}

/** Pod annotations kubelet users set to shape a pod's traffic (read by the bandwidth plugin). */
export const INGRESS_BANDWIDTH = 'kubernetes.io/ingress-bandwidth';
export const EGRESS_BANDWIDTH = 'kubernetes.io/egress-bandwidth';

/** CNI_ARGS of a pod, as kubelet-driven runtimes send them; `IgnoreUnknown` lets strict plugins accept them. */
export function podCniArgs(spec: Pick<PodNetworkSpec, 'id' | 'name' | 'namespace' | 'uid'>): Array<[string, string]> {
  return [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAMESPACE', spec.namespace],
    ['K8S_POD_NAME', spec.name],
    ['K8S_POD_INFRA_CONTAINER_ID', spec.id],
    ['K8S_POD_UID', spec.uid],
  ];
}

/**
 * Parses a Kubernetes quantity as used by the bandwidth annotations (`10M`, `1Gi`, `500k`): bits per second.
 * InvalidArgumentError naming the annotation for anything else or for zero/negative values.
 */
export function parseBandwidth(annotation: string, value: string): number {
  const n = parseByteQuantity(value);
  if (n === undefined || n <= 0) {
    throw new InvalidArgumentError(`annotation "${annotation}" has an invalid bandwidth "${value}"`);
  }
  return n;
}

/** Inputs of the capability values that do not come from the pod spec. */
export interface CapabilityContext {
  /** The node's pod CIDR(s) from UpdateRuntimeConfig (comma-separated when dual-stack), if kubelet sent one. */
  podCidr?: string;
}

/**
 * The runtimeConfig values of a pod, keyed by capability name. Only keys with a value are present, so a
 * plugin that declares a capability the pod does not use gets nothing for it.
 */
export function podCapabilityArgs(
  spec: Pick<PodNetworkSpec, 'portMappings' | 'annotations' | 'dns'>,
  ctx: CapabilityContext = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // Only mappings with a host port are forwarded: containerPort-only entries are informational in CRI.
  const ports = spec.portMappings
    .filter((p) => p.hostPort > 0)
    .map((p) => {
      if (p.hostIp !== '' && isIP(p.hostIp) === 0) {
        throw new InvalidArgumentError(`port mapping host ip "${p.hostIp}" is not an IP address`);
      }
      return {
        hostPort: p.hostPort,
        containerPort: p.containerPort,
        protocol: p.protocol,
        ...(p.hostIp !== '' ? { hostIP: p.hostIp } : {}),
      };
    });
  if (ports.length > 0) out.portMappings = ports;

  const ingress = spec.annotations[INGRESS_BANDWIDTH];
  const egress = spec.annotations[EGRESS_BANDWIDTH];
  if (ingress !== undefined || egress !== undefined) {
    // The burst is left effectively unlimited, as other kubelet runtimes do; rates are bits per second.
    const bw: Record<string, number> = {};
    if (ingress !== undefined) {
      bw.ingressRate = parseBandwidth(INGRESS_BANDWIDTH, ingress);
      bw.ingressBurst = 2 ** 31 - 1;
    }
    if (egress !== undefined) {
      bw.egressRate = parseBandwidth(EGRESS_BANDWIDTH, egress);
      bw.egressBurst = 2 ** 31 - 1;
    }
    out.bandwidth = bw;
  }

  // kubelet joins a dual-stack node's CIDRs with commas; each family is its own range set.
  const cidrs = (ctx.podCidr ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
  if (cidrs.length > 0) out.ipRanges = cidrs.map((subnet) => [{ subnet }]);
  if (spec.dns && (spec.dns.servers.length > 0 || spec.dns.searches.length > 0 || spec.dns.options.length > 0)) {
    out.dns = { servers: spec.dns.servers, searches: spec.dns.searches, options: spec.dns.options };
  }
  return out;
}
