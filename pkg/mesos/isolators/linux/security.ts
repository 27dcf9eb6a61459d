/**
 * linux/security: who the container runs as and what it may do. It owns the process user (run_as_user,
 * run_as_username, run_as_group, supplemental groups, else the image USER, resolved inside the rootfs),
 * capabilities, no_new_privs, seccomp, masked and read-only paths, sysctls and oom_score_adj, and the
 * privileged mode (every capability and host device, no masks, rw sysfs and cgroupfs, no seccomp).
 */
import path from 'node:path';
import {
  clampOomScoreAdj,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  runtimeDefaultSeccomp,
} from '../../../oci/index.js';
import { ALL_CAPABILITIES, hostCapabilities } from '../../../sys/index.js';
import { FailedPreconditionError, InvalidArgumentError } from '../../../util/index.js';
import type { ContainerContext, Isolator, LaunchInfo } from '../../isolator.js';
import { hostDevices } from './devices.js';
import { loadSeccompProfile } from './seccomp-profile.js';
import { RootfsFileCache, resolveUser } from './user.js';

// The host's capability list and bounding set live in pkg/sys (the Docker containerizer needs them too).
export { ALL_CAPABILITIES, hostCapabilities } from '../../../sys/index.js';

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
  /** The images' passwd and group files, read once per rootfs content (ctx.rootfsKey). */
  private readonly files = new RootfsFileCache();

  async prepare(ctx: ContainerContext): Promise<LaunchInfo> {
    const s = ctx.spec;
    const pod = ctx.pod.spec;
    if (s.privileged && !pod.privileged) {
      throw new InvalidArgumentError(`privileged container "${s.name}" in a pod that is not privileged`);
    }
    const all = await hostCapabilities();
    const user = await resolveUser(
      ctx.rootfs,
      {
        runAsUser: s.runAsUser,
        runAsGroup: s.runAsGroup,
        runAsUsername: s.runAsUsername,
        supplementalGroups: s.supplementalGroups,
        imageUser: ctx.image.config.user,
      },
      { cache: this.files, key: ctx.rootfsKey, beforeRead: ctx.mountRootfs },
    );
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
