/**
 * The network `ucri serve --install-default-network` writes on a fresh machine, so `make run` gives pods an
 * address without hand-written CNI files: a bridge with host-local IPAM on a private /16 that overlaps no host
 * address or route and no subnet another network config claims (other CNI files, usable or not, and podman's
 * networks, whose default is 10.88.0.0/16 too: its bridge may simply not exist yet), plus portmap for host ports (and firewall where installed, so a FORWARD policy of DROP set by other
 * software does not cut pods off). Loopback needs no plugin: the pod's `lo` is brought up when its network
 * namespace is pinned. Nothing is written when the directory already has a usable network.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { run } from '../../../sys/index.js';
import { FailedPreconditionError, findExecutable, logger, writeJsonAtomic } from '../../../util/index.js';
import { scanCniConfigs } from '../../../cni/index.js';

const log = logger('mesos/isolators/network/default-network');

/** The file name of the default network: early in lexical order, so it is the default once present. */
export const DEFAULT_NETWORK_FILE = '10-ucri.conflist';
export const DEFAULT_NETWORK_NAME = 'ucri';
export const DEFAULT_BRIDGE = 'ucri0';

/** Private /16s tried in order: 10.88 is the one other CRI runtimes' samples use, the rest are fallbacks. */
export const DEFAULT_SUBNET_CANDIDATES: readonly string[] = [
  '10.88.0.0/16',
  '10.89.0.0/16',
  '10.90.0.0/16',
  '10.91.0.0/16',
  '10.92.0.0/16',
  '172.30.0.0/16',
  '172.31.0.0/16',
];

/** Where other runtimes keep network configs that are not in the CNI dir: podman's (netavark) networks. */
export const OTHER_NETWORK_DIRS: readonly string[] = ['/etc/containers/networks'];

/**
 * The subnets that network configs in `dirs` claim: every string property named `subnet` anywhere in their
 * JSON files (CNI host-local `subnet` and `ranges`, netavark `subnets`), whether the network is usable here or
 * not. `skip` names a file to leave out (our own). Unreadable files and missing dirs claim nothing.
 */
export async function configuredSubnets(dirs: readonly string[], skip?: string): Promise<string[]> {
  const out: string[] = [];
  const collect = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(collect);
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'subnet' && typeof x === 'string') out.push(x);
        else collect(x);
      }
    }
  };
  for (const dir of dirs) {
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const name of names.sort()) {
      if (!/\.(conf|conflist|json)$/.test(name) || path.join(dir, name) === skip) continue;
      try {
        collect(JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')));
      } catch (err) {
        log.debug({ file: path.join(dir, name), err }, 'network config unreadable; it claims no subnet');
      }
    }
  }
  return out;
}

/** An IPv4 CIDR as [network, prefix length]; undefined when `cidr` is not one. */
export function parseIpv4Cidr(cidr: string): [number, number] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(cidr);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  const len = m[5] === undefined ? 32 : Number(m[5]);
  if (len > 32) return undefined;
  const addr = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - len);
  return [addr - (addr % size), len];
}

/** True when two IPv4 CIDRs share an address. */
export function cidrsOverlap(a: string, b: string): boolean {
  const pa = parseIpv4Cidr(a);
  const pb = parseIpv4Cidr(b);
  if (!pa || !pb) return false;
  const len = Math.min(pa[1], pb[1]);
  const size = 2 ** (32 - len);
  return Math.floor(pa[0] / size) === Math.floor(pb[0] / size);
}

/**
 * The IPv4 prefixes the host routes or holds addresses in (every routing table), except those on `ignoreDev`
 * (the bridge of a previous default network, whose subnet is ours to reuse). The default route is left out.
 */
export async function hostIpv4Prefixes(ignoreDev?: string, signal?: AbortSignal): Promise<string[]> {
  const out: string[] = [];
  const routes = await run('ip', ['-4', '-o', 'route', 'show', 'table', 'all'], { signal });
  for (const line of routes.stdout.split('\n')) {
    const words = line.trim().split(/\s+/);
    // `ip route` prints a route type (local, broadcast, unreachable, …) before the prefix when it is not unicast.
    const dst = words.find((w) => /^\d/.test(w));
    if (!dst || words[0] === 'default') continue;
    const dev = words[words.indexOf('dev') + 1];
    if (ignoreDev !== undefined && words.includes('dev') && dev === ignoreDev) continue;
    out.push(dst);
  }
  const addrs = await run('ip', ['-4', '-o', 'addr', 'show'], { signal });
  for (const line of addrs.stdout.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (ignoreDev !== undefined && words[1] === ignoreDev) continue;
    const i = words.indexOf('inet');
    const cidr = i >= 0 ? words[i + 1] : undefined;
    if (cidr) out.push(cidr);
  }
  return out;
}

/**
 * The first candidate that overlaps no host prefix nor any of `claimed` (subnets of other network configs);
 * FailedPreconditionError when all are taken.
 */
export async function pickFreeSubnet(
  candidates: readonly string[] = DEFAULT_SUBNET_CANDIDATES,
  ignoreDev?: string,
  signal?: AbortSignal,
  claimed: readonly string[] = [],
): Promise<string> {
  const used = [...(await hostIpv4Prefixes(ignoreDev, signal)), ...claimed];
  const free = candidates.find((c) => !used.some((u) => cidrsOverlap(c, u)));
  if (!free) {
    throw new FailedPreconditionError(`every candidate pod subnet is in use on this host: ${candidates.join(', ')}`);
  }
  return free;
}

export interface DefaultNetworkOptions {
  bridge?: string;
  subnet?: string;
  /** host-local's state directory (default: host-local's own, /var/lib/cni/networks). */
  ipamDataDir?: string;
  /** Whether to add the firewall plugin when it is installed (default true). */
  firewall?: boolean;
  /** Directories of other runtimes' network configs whose subnets to avoid (default OTHER_NETWORK_DIRS). */
  otherNetworkDirs?: readonly string[];
}

/** The conflist of the default network (a pure function of its inputs, for tests). */
export function defaultNetworkConfig(subnet: string, opts: DefaultNetworkOptions & { firewall: boolean }) {
  const plugins: Array<Record<string, unknown>> = [
    {
      type: 'bridge',
      bridge: opts.bridge ?? DEFAULT_BRIDGE,
      isGateway: true,
      ipMasq: true,
      hairpinMode: true,
      ipam: {
        type: 'host-local',
        ranges: [[{ subnet }]],
        routes: [{ dst: '0.0.0.0/0' }],
        ...(opts.ipamDataDir ? { dataDir: opts.ipamDataDir } : {}),
      },
    },
    { type: 'portmap', capabilities: { portMappings: true }, snat: true },
  ];
  if (opts.firewall) plugins.push({ type: 'firewall' });
  return { cniVersion: '1.0.0', name: DEFAULT_NETWORK_NAME, plugins };
}

/**
 * Writes `<configDir>/10-ucri.conflist` when the directory has no usable network. Resolves with the file
 * written, or undefined when a usable network was already there. FailedPreconditionError when the bridge,
 * host-local or portmap plugins are not installed.
 */
export async function installDefaultNetwork(
  configDir: string,
  pluginDirs: readonly string[],
  opts: DefaultNetworkOptions = {},
  signal?: AbortSignal,
): Promise<string | undefined> {
  const scan = await scanCniConfigs(configDir, pluginDirs);
  if (scan.networks.length > 0) return undefined;
  const missing: string[] = [];
  for (const p of ['bridge', 'host-local', 'portmap']) if (!(await findExecutable(p, pluginDirs))) missing.push(p);
  if (missing.length > 0) {
    throw new FailedPreconditionError(
      `cannot install the default network: cni plugin(s) ${missing.join(', ')} not found in ${pluginDirs.join(':')}`,
    );
  }
  const bridge = opts.bridge ?? DEFAULT_BRIDGE;
  const file = path.join(configDir, DEFAULT_NETWORK_FILE);
  const claimed = await configuredSubnets([configDir, ...(opts.otherNetworkDirs ?? OTHER_NETWORK_DIRS)], file);
  const subnet = opts.subnet ?? (await pickFreeSubnet(DEFAULT_SUBNET_CANDIDATES, bridge, signal, claimed));
  const firewall = (opts.firewall ?? true) && (await findExecutable('firewall', pluginDirs)) !== undefined;
  await writeJsonAtomic(file, defaultNetworkConfig(subnet, { ...opts, bridge, firewall }));
  log.info({ file, subnet, bridge }, 'installed the default cni network');
  return file;
}
