/**
 * The spec a container gets when nobody asks for more: what containerd's CRI plugin hands runc by default
 * (the capability set container runtimes grant, proc/dev/sys mounts, masked and read-only /proc paths, a
 * deny-all device cgroup with the standard character devices allowed, the RuntimeDefault seccomp profile).
 * Isolators then merge their launch infos into it.
 */
import { ownNofileLimit, ownOomScoreAdj } from '../sys/index.js';
import { runtimeDefaultSeccomp } from './seccomp.js';
import {
  type LinuxDeviceCgroup,
  type LinuxNamespace,
  type LinuxNamespaceType,
  type Mount,
  OCI_VERSION,
  type Spec,
} from './spec.js';

/** The capabilities container runtimes (docker, containerd) grant by default. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Kernel interfaces hidden from containers (bind-mounted over with /dev/null or an empty tmpfs). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Kernel interfaces containers may read but not write. */
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** The mounts every container gets (CRI flavour: no /run tmpfs, a read-only /sys/fs/cgroup). */
export function defaultMounts(): Mount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
    },
  ];
}

/**
 * Device cgroup rules: deny everything, then allow the character devices runc creates in every container
 * (null, zero, full, random, urandom, tty, ptmx, the devpts range). runc adds the same allowances itself;
 * spelling them out keeps crun and runc equal.
 */
export function defaultDeviceRules(): LinuxDeviceCgroup[] {
  const c = (major: number, minor: number | null): LinuxDeviceCgroup => ({
    allow: true,
    type: 'c',
    major,
    minor,
    access: 'rwm',
  });
  return [{ allow: false, access: 'rwm' }, c(1, 3), c(1, 5), c(1, 7), c(1, 8), c(1, 9), c(5, 0), c(5, 2), c(136, null)];
}

/** RLIMIT_NOFILE containers get (the usual container runtime default), before fitting it to the host. */
export const DEFAULT_NOFILE = 1048576;

export interface DefaultSpecOptions {
  /** Rootfs path (absolute, or relative to the bundle). Default "rootfs". */
  rootfs?: string;
  args?: string[];
  /** Extra environment ("K=V"); PATH is provided unless given here. */
  env?: string[];
  cwd?: string;
  hostname?: string;
  /** cgroupsPath, e.g. `/ucri/<id>` for cgroupfs or `ucri.slice:ucri:<id>` for systemd. */
  cgroupsPath?: string;
  /**
   * Namespaces: each type is created, or joined when a path is given. Default: new pid, ipc, uts, mount and
   * network namespaces.
   */
  namespaces?: LinuxNamespace[];
  terminal?: boolean;
  /** Install the RuntimeDefault seccomp profile (default true). */
  seccomp?: boolean;
}

const DEFAULT_NAMESPACES: readonly LinuxNamespaceType[] = ['pid', 'ipc', 'uts', 'mount', 'network'];

/** A complete default spec; every call returns fresh objects that the caller may mutate. */
export function defaultSpec(opts: DefaultSpecOptions = {}): Spec {
  const caps = [...DEFAULT_CAPABILITIES];
  const env = [...(opts.env ?? [])];
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH_ENV);
  if (opts.terminal && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: opts.terminal ?? false,
      user: { uid: 0, gid: 0 },
      args: opts.args ?? ['/bin/sh'],
      env,
      cwd: opts.cwd ?? '/',
      capabilities: { bounding: caps, effective: [...caps], permitted: [...caps] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: DEFAULT_NOFILE, soft: DEFAULT_NOFILE }],
      noNewPrivileges: false,
    },
    root: { path: opts.rootfs ?? 'rootfs', readonly: false },
    mounts: defaultMounts(),
    linux: {
      namespaces: opts.namespaces ?? DEFAULT_NAMESPACES.map((type) => ({ type })),
      resources: { devices: defaultDeviceRules() },
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
    },
  };
  if (opts.hostname !== undefined) spec.hostname = opts.hostname;
  if (opts.cgroupsPath !== undefined) spec.linux!.cgroupsPath = opts.cgroupsPath;
  if (opts.seccomp ?? true) spec.linux!.seccomp = runtimeDefaultSeccomp(caps);
  return spec;
}

/**
 * Adjusts a spec to what this daemon can grant, in place: rlimits above the daemon's own hard limit are
 * lowered to it, and oomScoreAdj is raised to at least the daemon's own (lowering either needs
 * CAP_SYS_RESOURCE, which ucri may not have; runc would fail the create). Returns the spec.
 */
export async function fitSpecToHost(spec: Spec): Promise<Spec> {
  const p = spec.process;
  if (!p) return spec;
  const nofile = await ownNofileLimit();
  for (const r of p.rlimits ?? []) {
    if (r.type !== 'RLIMIT_NOFILE') continue;
    r.hard = Math.min(r.hard, nofile.hard);
    r.soft = Math.min(r.soft, r.hard);
  }
  const floor = await ownOomScoreAdj();
  p.oomScoreAdj = Math.max(p.oomScoreAdj ?? floor, floor);
  return spec;
}

/** Clamps a requested oom_score_adj to [own, 1000]. */
export async function clampOomScoreAdj(value: number): Promise<number> {
  return Math.min(1000, Math.max(value, await ownOomScoreAdj()));
}
