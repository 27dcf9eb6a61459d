/**
 * filesystem/linux (Mesos `filesystem/linux`): the container's own mount namespace over its provisioned
 * rootfs (read-only when asked), the pod's files bound over /etc/hosts, /etc/resolv.conf and /etc/hostname,
 * the pod's /dev/shm, the CRI devices, and the pod's network and UTS namespaces (or the host's for
 * host-network pods, which kubelet gives the host UTS namespace too). CRI mounts are volume/host_path's; a
 * CRI mount at one of the paths above (kubelet manages /etc/hosts itself for most pods) replaces ours.
 *
 * Pod directory (PodState.dir), written in setupPod:
 *   hostname      the pod's hostname
 *   hosts         localhost lines + the pod IPs with its hostname; rewritten in prepare once the IPs are
 *                 known (networking runs after this isolator in setupPod). Rewritten in place: running
 *                 containers have the file's inode bound.
 *   resolv.conf   the pod's DNS config, else the host's minus loopback resolvers (unreachable from the pod)
 *   shm/          a 64 MiB tmpfs shared by the pod's containers (pod IPC only); unmounted in cleanupPod
 */
import { type BigIntStats, promises as fs, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { DnsConfig, PodSpec } from '../../../containerizer/index.js';
import type { LinuxDevice, LinuxDeviceCgroup, LinuxNamespace, Mount } from '../../../oci/index.js';
import { isMountPoint, mount, unmount } from '../../../sys/index.js';
import { FailedPreconditionError, InvalidArgumentError, joinPath, writeFileReplace } from '../../../util/index.js';
import type { ContainerContext, Isolator, LaunchInfo, PodContext } from '../../isolator.js';
import { podHostname } from '../hostname.js';
import { mappedDevices } from '../linux/devices.js';

const SHM_SIZE = '64m';
const FILES = { hosts: '/etc/hosts', resolv: '/etc/resolv.conf', hostname: '/etc/hostname' } as const;

/** The pod's /etc/hosts: localhost entries, then each pod IP with the hostname (or a loopback one). */
export function hostsFile(hostname: string, ips: readonly string[]): string {
  const lines = [
    '# Kubernetes-managed hosts file (ucri).',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
  ];
  if (ips.length === 0) lines.push(`127.0.0.1\t${hostname}`, `::1\t${hostname}`);
  for (const ip of ips) lines.push(`${ip}\t${hostname}`);
  return `${lines.join('\n')}\n`;
}

const TOKEN_RE = /^[^\s\0#;]+$/;

/**
 * The pod's resolv.conf: its DNS config when it has one, else the host's file; loopback nameservers are
 * dropped when the pod has its own network namespace (they would point at the pod itself).
 */
export function resolvConf(dns: DnsConfig | undefined, hostText: string, ownNetns: boolean): string {
  if (dns && (dns.servers.length > 0 || dns.searches.length > 0 || dns.options.length > 0)) {
    for (const s of dns.servers) if (net.isIP(s) === 0) throw new InvalidArgumentError(`invalid DNS server "${s}"`);
    for (const t of [...dns.searches, ...dns.options]) {
      if (!TOKEN_RE.test(t)) throw new InvalidArgumentError(`invalid DNS search or option "${t}"`);
    }
    const lines: string[] = [];
    if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
    for (const s of dns.servers) lines.push(`nameserver ${s}`);
    if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
    return `${lines.join('\n')}\n`;
  }
  const loopback = /^\s*nameserver\s+(127\.\S*|::1|0:0:0:0:0:0:0:1)\s*$/;
  const lines = hostText.split('\n').filter((l) => !(ownNetns && loopback.test(l)));
  const text = lines.join('\n');
  return text.endsWith('\n') || text === '' ? text : `${text}\n`;
}

async function readOr(file: string, fallback: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw err;
  }
}

function podFile(pod: PodContext, name: string): string {
  return joinPath(pod.state.dir, name);
}

function hostNetwork(spec: PodSpec): boolean {
  return spec.namespaces.network === 'node';
}

/**
 * Device, inode, size, modification and change times: a rename onto the path brings another inode, a write
 * moves the times. Undefined when the file cannot be stat'ed. The kernel's file times are coarse (a clock
 * tick), so an in-place write of the same size within the tick of our last look can go unnoticed: the
 * container's edit of its /etc/hosts then stays until the next change, as it always does under containerd,
 * which never rewrites the file. A stat on the event loop: the pod's own file in ucri's run dir, one syscall on a
 * cached inode, where a thread-pool round trip cost a CreateContainer ~0.3–0.6 ms under load
 * (docs/performance.md, "Phase 11").
 */
function fileIdentity(file: string): string | undefined {
  let st: BigIntStats | undefined;
  try {
    st = statSync(file, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined;
  }
  return st ? `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}` : undefined;
}

export class LinuxFilesystemIsolator implements Isolator {
  readonly name = 'filesystem/linux';

  /**
   * Per pod hosts file: the content it was last seen to hold (read or written by refreshHosts) and the file's
   * identity then. While both still match, a create need not read the file again (a stat instead of four
   * thread-pool round trips; docs/performance.md "CreateContainer, phase 6").
   */
  private readonly hostsSeen = new Map<string, { content: string; id: string }>();

  constructor(private readonly deps: { hostHostsFile?: string; hostResolvConf?: string }) {}

  private get hostHosts(): string {
    return this.deps.hostHostsFile ?? '/etc/hosts';
  }

  private get hostResolv(): string {
    return this.deps.hostResolvConf ?? '/etc/resolv.conf';
  }

  async setupPod(pod: PodContext, signal: AbortSignal): Promise<void> {
    const spec = pod.spec;
    const hostname = podHostname(spec);
    const resolv = resolvConf(spec.dns, await readOr(this.hostResolv, ''), !hostNetwork(spec));
    await fs.mkdir(pod.state.dir, { recursive: true, mode: 0o711 });
    const hosts = hostNetwork(spec)
      ? await readOr(this.hostHosts, hostsFile(hostname, []))
      : hostsFile(hostname, pod.state.ips);
    // Renamed into place without fsync, all three at once: they live in the runtime dir, derive from the
    // pod's durable spec and serve only a pod whose namespaces a reboot ends anyway (a crash of the daemon
    // alone keeps them: the page cache survives it). See writeFileReplace.
    await Promise.all([
      writeFileReplace(podFile(pod, 'hostname'), `${hostname}\n`, 0o644),
      writeFileReplace(podFile(pod, 'hosts'), hosts, 0o644),
      writeFileReplace(podFile(pod, 'resolv.conf'), resolv, 0o644),
    ]);
    if (spec.namespaces.ipc === 'pod') {
      const shm = podFile(pod, 'shm');
      await fs.mkdir(shm, { recursive: true, mode: 0o755 });
      if (!(await isMountPoint(shm))) {
        await mount('shm', shm, {
          fsType: 'tmpfs',
          options: ['nosuid', 'nodev', 'noexec', 'mode=1777', `size=${SHM_SIZE}`],
          signal,
        });
      }
    }
  }

  async prepare(ctx: ContainerContext): Promise<LaunchInfo> {
    const pod = ctx.pod;
    const s = ctx.spec;
    const hostNet = hostNetwork(pod.spec);
    const hostname = podHostname(pod.spec);
    if (!hostNet && pod.state.ips.length > 0) await this.refreshHosts(pod, hostname);

    const taken = new Set(s.mounts.map((m) => path.resolve(m.containerPath)));
    const fileOpts = ['rbind', 'rprivate', s.readonlyRootfs ? 'ro' : 'rw'];
    const mounts: Mount[] = [];
    for (const [name, dest] of [
      ['hosts', FILES.hosts],
      ['resolv.conf', FILES.resolv],
      ['hostname', FILES.hostname],
    ] as const) {
      if (!taken.has(dest))
        mounts.push({ destination: dest, type: 'bind', source: podFile(pod, name), options: fileOpts });
    }
    const shm = this.shmSource(ctx);
    if (shm && !taken.has('/dev/shm')) {
      mounts.push({ destination: '/dev/shm', type: 'bind', source: shm, options: ['rbind', 'rprivate', 'rw'] });
    }

    const namespaces: LinuxNamespace[] = [{ type: 'mount' }];
    if (!hostNet) {
      if (!pod.state.netns) throw new FailedPreconditionError(`pod "${pod.spec.id}" has no network namespace`);
      namespaces.push({ type: 'network', path: pod.state.netns });
      namespaces.push(pod.state.utsns ? { type: 'uts', path: pod.state.utsns } : { type: 'uts' });
    }

    const devices: LinuxDevice[] = [];
    const rules: LinuxDeviceCgroup[] = [];
    for (const d of s.devices) {
      const found = await mappedDevices(d.hostPath, d.containerPath, d.permissions);
      devices.push(...found.devices);
      rules.push(...found.rules);
    }

    const info: LaunchInfo = { mounts, namespaces, readonlyRootfs: s.readonlyRootfs };
    if (!hostNet) info.hostname = hostname;
    if (devices.length > 0) {
      info.devices = devices;
      info.resources = { devices: rules };
    }
    return info;
  }

  /** Where the container's /dev/shm comes from: the pod's tmpfs, the host's, or its own (undefined). */
  private shmSource(ctx: ContainerContext): string | undefined {
    const mode = ctx.spec.namespaces.ipc;
    if (mode === 'container') return undefined;
    if (mode === 'node' || ctx.pod.spec.namespaces.ipc === 'node') return '/dev/shm';
    return podFile(ctx.pod, 'shm');
  }

  /** Rewrites the pod's hosts file in place when the pod's IPs are not in it yet. */
  private async refreshHosts(pod: PodContext, hostname: string): Promise<void> {
    const file = podFile(pod, 'hosts');
    const want = hostsFile(hostname, pod.state.ips);
    const seen = this.hostsSeen.get(file);
    if (seen?.content === want && seen.id === fileIdentity(file)) return;
    if ((await readOr(file, '')) !== want) await fs.writeFile(file, want, { mode: 0o644 });
    const id = fileIdentity(file);
    if (id === undefined) this.hostsSeen.delete(file);
    else this.hostsSeen.set(file, { content: want, id });
  }

  async cleanupPod(pod: PodContext): Promise<void> {
    this.hostsSeen.delete(podFile(pod, 'hosts'));
    const shm = podFile(pod, 'shm');
    await unmount(shm, { lazy: true });
    await fs.rmdir(shm).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    for (const f of ['hosts', 'resolv.conf', 'hostname']) await fs.rm(podFile(pod, f), { force: true });
  }
}
