/**
 * CNI results, read in every format a plugin may answer with: the `ips`/`interfaces` shape of 0.3.x, 0.4.0
 * and 1.0.0 (0.3/0.4 add a `version` per IP, 1.0.0 drops it), and the `ip4`/`ip6` shape of 0.1.0/0.2.0.
 * Mesos only understood the old shape and silently dropped `ips`; here both become one normal form, and
 * the raw result is kept beside it because the next plugin of a list and DEL/CHECK need it verbatim.
 */
import { isIP } from 'node:net';
import * as z from 'zod/mini';
import { InternalError } from '../util/index.js';

/** One address a plugin assigned, normalised. */
export interface CniIp {
  /** The address without its prefix length, e.g. `10.88.0.5` or `fd00::5`. */
  ip: string;
  /** The address in CIDR form as the plugin gave it. */
  cidr: string;
  family: 4 | 6;
  gateway?: string;
  /** Index into `interfaces`, when the plugin says which interface holds the address. */
  interface?: number;
}

/** A CNI result in one normal form. */
export interface CniResult {
  cniVersion: string;
  interfaces: Array<{ name: string; mac?: string; sandbox?: string }>;
  ips: CniIp[];
  dns: { nameservers: string[]; domain?: string; search: string[]; options: string[] };
}

const dnsSchema = z.optional(
  z.looseObject({
    nameservers: z.optional(z.array(z.string())),
    domain: z.optional(z.string()),
    search: z.optional(z.array(z.string())),
    options: z.optional(z.array(z.string())),
  }),
);

const currentSchema = z.looseObject({
  cniVersion: z.optional(z.string()),
  interfaces: z.optional(
    z.array(z.looseObject({ name: z.string(), mac: z.optional(z.string()), sandbox: z.optional(z.string()) })),
  ),
  ips: z.optional(
    z.array(
      z.looseObject({
        address: z.string(),
        gateway: z.optional(z.string()),
        interface: z.optional(z.number().check(z.int(), z.gte(0))),
      }),
    ),
  ),
  dns: dnsSchema,
});

const legacyIpSchema = z.optional(z.looseObject({ ip: z.string(), gateway: z.optional(z.string()) }));
const legacySchema = z.looseObject({
  cniVersion: z.optional(z.string()),
  ip4: legacyIpSchema,
  ip6: legacyIpSchema,
  dns: dnsSchema,
});

/** Splits `addr/len` and checks the address; throws InternalError naming the plugin output when bad. */
function parseCidr(cidr: string): { ip: string; family: 4 | 6 } {
  const slash = cidr.indexOf('/');
  const ip = slash < 0 ? cidr : cidr.slice(0, slash);
  const family = isIP(ip);
  if (family !== 4 && family !== 6) throw new InternalError(`cni result has an invalid address "${cidr}"`);
  if (slash >= 0) {
    const len = Number(cidr.slice(slash + 1));
    if (!Number.isInteger(len) || len < 0 || len > (family === 4 ? 32 : 128)) {
      throw new InternalError(`cni result has an invalid prefix length in "${cidr}"`);
    }
  }
  return { ip, family };
}

function normDns(d: z.infer<typeof dnsSchema>): CniResult['dns'] {
  return {
    nameservers: d?.nameservers ?? [],
    ...(d?.domain ? { domain: d.domain } : {}),
    search: d?.search ?? [],
    options: d?.options ?? [],
  };
}

/** True for the result formats that carry `ips` (0.3.0 and later). */
export function usesIpsList(cniVersion: string): boolean {
  return compareVersions(cniVersion, '0.3.0') >= 0;
}

/** Compares dotted versions numerically (`0.10.0` > `0.4.0`); missing parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Normalises a plugin's ADD output. The shape is chosen by the result's own `cniVersion` (falling back to
 * `configVersion`): `ips` for 0.3.0 and later, `ip4`/`ip6` before. InternalError when it is not a result.
 */
export function parseCniResult(raw: unknown, configVersion: string): CniResult {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InternalError('cni result is not a JSON object');
  }
  const declared = (raw as { cniVersion?: unknown }).cniVersion;
  const version = typeof declared === 'string' && declared !== '' ? declared : configVersion;
  if (usesIpsList(version)) {
    const r = currentSchema.safeParse(raw);
    if (!r.success) throw new InternalError(`cni ${version} result is malformed: ${r.error.issues[0]?.message}`);
    const interfaces = (r.data.interfaces ?? []).map((i) => ({
      name: i.name,
      ...(i.mac ? { mac: i.mac } : {}),
      ...(i.sandbox ? { sandbox: i.sandbox } : {}),
    }));
    const ips = (r.data.ips ?? []).map((a): CniIp => {
      const { ip, family } = parseCidr(a.address);
      return {
        ip,
        cidr: a.address,
        family,
        ...(a.gateway ? { gateway: a.gateway } : {}),
        ...(a.interface !== undefined ? { interface: a.interface } : {}),
      };
    });
    return { cniVersion: version, interfaces, ips, dns: normDns(r.data.dns) };
  }
  const r = legacySchema.safeParse(raw);
  if (!r.success) throw new InternalError(`cni ${version} result is malformed: ${r.error.issues[0]?.message}`);
  const ips: CniIp[] = [];
  for (const entry of [r.data.ip4, r.data.ip6]) {
    if (!entry) continue;
    const { ip, family } = parseCidr(entry.ip);
    ips.push({ ip, cidr: entry.ip, family, ...(entry.gateway ? { gateway: entry.gateway } : {}) });
  }
  return { cniVersion: version, interfaces: [], ips, dns: normDns(r.data.dns) };
}

/**
 * The pod's addresses from a result, primary first: addresses on the pod's interface `ifname` (or on any
 * sandbox interface, or unattributed ones), IPv4 before IPv6 unless `preferIpv6`, each family in the
 * plugin's order, without duplicates. Host-side addresses (e.g. a bridge gateway) are not the pod's.
 */
export function podIps(result: CniResult, ifname: string, preferIpv6 = false): string[] {
  const own = result.ips.filter((a) => {
    if (a.interface === undefined) return true;
    const intf = result.interfaces[a.interface];
    if (!intf) return true;
    return intf.name === ifname || (intf.sandbox !== undefined && intf.sandbox !== '');
  });
  const first = preferIpv6 ? 6 : 4;
  const ordered = [...own.filter((a) => a.family === first), ...own.filter((a) => a.family !== first)];
  return [...new Set(ordered.map((a) => a.ip))];
}
