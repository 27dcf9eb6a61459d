/**
 * linux/security: who the container runs as and what it may do. It owns the process user (run_as_user,
 * run_as_username, run_as_group, supplemental groups, else the image USER, resolved inside the rootfs),
 * capabilities, no_new_privs, seccomp, masked and read-only paths, sysctls and oom_score_adj, and the
 * privileged mode (every capability and host device, no masks, rw sysfs and cgroupfs, no seccomp).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  clampOomScoreAdj,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  runtimeDefaultSeccomp,
} from '../../../oci/index.js';
import { FailedPreconditionError, InvalidArgumentError } from '../../../util/index.js';
import type { ContainerContext, Isolator, LaunchInfo } from '../../isolator.js';
import { hostDevices } from './devices.js';
import { loadSeccompProfile } from './seccomp-profile.js';
import { resolveUser } from './user.js';

/** Capability names by number (capability.h); the host's cap_last_cap bounds what is granted. */
// biome-ignore format: one row per eight capabilities
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

let hostCaps: Promise<readonly string[]> | undefined;

/**
 * The capabilities a container can be given here: those this kernel knows (up to cap_last_cap) that are also
 * in ucri's own bounding set. `ALL` and privileged mean these: a runtime can never hand out a capability it
 * lacks itself (runc fails with EPERM), e.g. CAP_SYS_RESOURCE where the host withholds it from root.
 */
export function hostCapabilities(): Promise<readonly string[]> {
  hostCaps ??= (async () => {
    const last = await fs
      .readFile('/proc/sys/kernel/cap_last_cap', 'utf8')
      .then((t) => Number(t.trim()))
      .catch(() => ALL_CAPABILITIES.length - 1);
    const status = await fs.readFile('/proc/self/status', 'utf8').catch(() => '');
    const bnd = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status);
    const mask = bnd ? BigInt(`0x${bnd[1]}`) : -1n;
    return ALL_CAPABILITIES.slice(0, last + 1).filter((_, bit) => (mask >> BigInt(bit)) & 1n);
  })();
  return hostCaps;
}

/** `net_admin`, `NET_ADMIN` and `CAP_NET_ADMIN` all name CAP_NET_ADMIN; `ALL` stays `ALL`. */
export function normalizeCapability(name: string): string {
  const up = name.trim().toUpperCase();
  if (up === 'ALL') return up;
  const cap = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!ALL_CAPABILITIES.includes(cap)) throw new InvalidArgumentError(`unknown capability "${name}"`);
  return cap;
}

/**
 * The capability set from the defaults and CRI add/drop, with containerd's order: `ALL` in add grants
 * every capability, `ALL` in drop starts from none, then single adds, then single drops.
 */
export function computeCapabilities(add: readonly string[], drop: readonly string[], all: readonly string[]): string[] {
  const adds = add.map(normalizeCapability);
  const drops = drop.map(normalizeCapability);
  let caps: string[] = [...DEFAULT_CAPABILITIES];
  if (adds.includes('ALL')) caps = [...all];
  if (drops.includes('ALL')) caps = [];
  for (const c of adds) {
    if (c === 'ALL' || caps.includes(c)) continue;
    // Asked for by name: better a clear refusal than a container that silently lacks it.
    if (!all.includes(c)) throw new FailedPreconditionError(`capability "${c}" is not available to ucri on this host`);
    caps.push(c);
  }
  return caps.filter((c) => !drops.includes(c) && all.includes(c));
}

const SYSCTL_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/;
const IPC_SYSCTL_RE = /^(kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)|fs\.mqueue\.)/;

/** Pod sysctls overlaid with the container's; namespaced-ness is checked against the pod's host namespaces. */
export function checkSysctls(
  sysctls: Record<string, string>,
  hostNetwork: boolean,
  hostIpc: boolean,
): Record<string, string> {
  for (const [k, v] of Object.entries(sysctls)) {
    if (!SYSCTL_RE.test(k) || /[\n\0]/.test(v)) throw new InvalidArgumentError(`invalid sysctl "${k}"`);
    if (hostNetwork && k.startsWith('net.')) {
      throw new InvalidArgumentError(`sysctl "${k}" is not allowed with the host network namespace`);
    }
    if (hostIpc && IPC_SYSCTL_RE.test(k)) {
      throw new InvalidArgumentError(`sysctl "${k}" is not allowed with the host ipc namespace`);
    }
  }
  return { ...sysctls };
}

function checkPaths(paths: readonly string[], what: string): string[] {
  for (const p of paths) {
    if (!path.isAbsolute(p) || p.includes('\0')) throw new InvalidArgumentError(`invalid ${what} "${p}"`);
  }
  return [...paths];
}

export class SecurityIsolator implements Isolator {
  readonly name = 'linux/security';

  async prepare(ctx: ContainerContext): Promise<LaunchInfo> {
    const s = ctx.spec;
    const pod = ctx.pod.spec;
    if (s.privileged && !pod.privileged) {
      throw new InvalidArgumentError(`privileged container "${s.name}" in a pod that is not privileged`);
    }
    const all = await hostCapabilities();
    const user = await resolveUser(ctx.rootfs, {
      runAsUser: s.runAsUser,
      runAsGroup: s.runAsGroup,
      runAsUsername: s.runAsUsername,
      supplementalGroups: s.supplementalGroups,
      imageUser: ctx.image.config.user,
    });
    const caps = s.privileged ? [...all] : computeCapabilities(s.capabilities.add, s.capabilities.drop, all);
    const info: LaunchInfo = {
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      // Inheritable and ambient stay empty: inheritable caps leak into setcap binaries (CVE-2022-24769).
      capabilities: { bounding: caps, effective: [...caps], permitted: [...caps], inheritable: [], ambient: [] },
      noNewPrivileges: s.noNewPrivs,
      sysctl: checkSysctls(
        { ...pod.sysctls, ...s.sysctls },
        pod.namespaces.network === 'node',
        pod.namespaces.ipc === 'node' || s.namespaces.ipc === 'node',
      ),
    };
    if (s.resources.oomScoreAdj !== 0) info.oomScoreAdj = await clampOomScoreAdj(s.resources.oomScoreAdj);

    if (s.privileged) {
      info.seccomp = null;
      info.maskedPaths = [];
      info.readonlyPaths = [];
      info.devices = await hostDevices();
      info.resources = { devices: [{ allow: true, access: 'rwm' }] };
      info.mounts = [
        { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'rw'] },
        {
          destination: '/sys/fs/cgroup',
          type: 'cgroup',
          source: 'cgroup',
          options: ['nosuid', 'noexec', 'nodev', 'relatime', 'rw'],
        },
      ];
      return info;
    }
    info.maskedPaths = checkPaths(s.maskedPaths ?? DEFAULT_MASKED_PATHS, 'masked path');
    info.readonlyPaths = checkPaths(s.readonlyPaths ?? DEFAULT_READONLY_PATHS, 'read-only path');
    switch (s.seccomp.type) {
      case 'unconfined':
        info.seccomp = null;
        break;
      case 'runtime/default':
        info.seccomp = runtimeDefaultSeccomp(caps);
        break;
      case 'localhost':
        info.seccomp = await loadSeccompProfile(s.seccomp.path, caps);
        break;
    }
    return info;
  }
}
