/**
 * Merging the isolators' LaunchInfo fragments (Mesos `ContainerLaunchInfo`) into one OCI runtime spec, in
 * table order, over pkg/oci's defaultSpec. The rules:
 *
 * - single owner: command, workingDir, user, capabilities, seccomp, rlimits, noNewPrivileges, oomScoreAdj,
 *   readonlyRootfs, hostname, and each of resources.{cpu,memory,pids,blockIO,network}: a second isolator
 *   setting one is an InternalError naming both (two isolators disagreeing is a bug, not user input);
 * - cgroupsPath may come from several isolators (cgroups/*) that must agree;
 * - env: later wins, a key keeps the position it first had (the base PATH first);
 * - mounts: appended in order; a mount whose destination is one of the default mounts (/dev/shm, /sys, …)
 *   replaces that default where it stands;
 * - namespaces: by type, later replaces; the base has none, so a type nobody asks for is the host's;
 * - devices: appended, a later one at the same path replaces the earlier; resources.devices (cgroup rules)
 *   appended after the default deny-all rules; hugepageLimits appended; unified, sysctl and annotations
 *   merged key by key, later wins;
 * - maskedPaths / readonlyPaths: the defaults unless some isolator sets them, then the isolators' lists
 *   (appended; an empty list means none);
 * - rootfsPropagation: the strongest asked for (rshared > rslave > the rest);
 * - seccomp `null` means unconfined; an absent one keeps the RuntimeDefault profile of the base.
 *
 * A hostname is dropped when the container stays in the host's UTS namespace (runc refuses it there).
 * The result is fitted to the host (pkg/oci fitSpecToHost).
 */
import {
  DEFAULT_CAPABILITIES,
  defaultSpec,
  fitSpecToHost,
  type LinuxDevice,
  type LinuxNamespace,
  type LinuxResources,
  type Mount,
  runtimeDefaultSeccomp,
  type Spec,
} from '../oci/index.js';
import { InternalError } from '../util/index.js';
import type { LaunchInfo } from './isolator.js';

/** One isolator's fragment. */
export interface Fragment {
  isolator: string;
  info: LaunchInfo;
}

/** What the containerizer itself decides: where the rootfs is and how stdio is attached. */
export interface SpecBase {
  /** Absolute path of the provisioned rootfs. */
  rootfs: string;
  terminal: boolean;
  annotations?: Record<string, string>;
}

const SINGLE = [
  'command',
  'workingDir',
  'user',
  'capabilities',
  'seccomp',
  'rlimits',
  'noNewPrivileges',
  'oomScoreAdj',
  'readonlyRootfs',
  'hostname',
] as const;
const SINGLE_RESOURCES = ['cpu', 'memory', 'pids', 'blockIO', 'network'] as const;
const PROPAGATION_RANK: Record<string, number> = { rshared: 2, rslave: 1 };

/** Builds the OCI spec of a container from its fragments (in table order) and the base. */
export async function buildSpec(fragments: readonly Fragment[], base: SpecBase): Promise<Spec> {
  // The base's RuntimeDefault profile is built at the end, only when no isolator set seccomp (linux/security
  // always does): building it is most of defaultSpec's work.
  const spec = defaultSpec({ rootfs: base.rootfs, terminal: base.terminal, namespaces: [], seccomp: false });
  let seccompSet = false;
  const proc = spec.process!;
  const linux = spec.linux!;
  const owners = new Map<string, string>();
  const claim = (field: string, isolator: string): void => {
    const prev = owners.get(field);
    if (prev !== undefined) {
      throw new InternalError(`launch info field "${field}" set by both "${prev}" and "${isolator}"`);
    }
    owners.set(field, isolator);
  };

  const env = new Map<string, string>();
  for (const e of proc.env ?? []) {
    const i = e.indexOf('=');
    env.set(e.slice(0, i), e.slice(i + 1));
  }
  const defaults = spec.mounts ?? [];
  const defaultDests = new Set(defaults.map((m) => m.destination));
  const replaced = new Map<string, Mount>();
  const extraMounts: Mount[] = [];
  const namespaces = new Map<string, LinuxNamespace>();
  const devices = new Map<string, LinuxDevice>();
  const resources: LinuxResources = linux.resources ?? {};
  let masked: string[] | undefined;
  let readonly: string[] | undefined;
  let cgroupsPath: { value: string; from: string } | undefined;
  let propagation: LaunchInfo['rootfsPropagation'];

  for (const { isolator, info } of fragments) {
    for (const f of SINGLE) if (info[f] !== undefined) claim(f, isolator);
    if (info.command) proc.args = [...info.command];
    if (info.workingDir !== undefined) proc.cwd = info.workingDir;
    if (info.user) {
      proc.user = { uid: info.user.uid, gid: info.user.gid, additionalGids: [...info.user.additionalGids] };
      if (info.user.umask !== undefined) proc.user.umask = info.user.umask;
    }
    if (info.capabilities) proc.capabilities = structuredClone(info.capabilities);
    if (info.seccomp === null) {
      delete linux.seccomp;
      seccompSet = true;
    } else if (info.seccomp) {
      linux.seccomp = info.seccomp;
      seccompSet = true;
    }
    if (info.rlimits) proc.rlimits = info.rlimits.map((r) => ({ ...r }));
    if (info.noNewPrivileges !== undefined) proc.noNewPrivileges = info.noNewPrivileges;
    if (info.oomScoreAdj !== undefined) proc.oomScoreAdj = info.oomScoreAdj;
    if (info.readonlyRootfs !== undefined) spec.root!.readonly = info.readonlyRootfs;
    if (info.hostname !== undefined) spec.hostname = info.hostname;

    for (const e of info.env ?? []) env.set(e.key, e.value);
    for (const m of info.mounts ?? []) {
      if (defaultDests.has(m.destination) && !replaced.has(m.destination)) replaced.set(m.destination, m);
      else extraMounts.push(m);
    }
    for (const ns of info.namespaces ?? []) namespaces.set(ns.type, { ...ns });
    for (const d of info.devices ?? []) {
      devices.delete(d.path);
      devices.set(d.path, { ...d });
    }
    if (info.maskedPaths) masked = [...(masked ?? []), ...info.maskedPaths];
    if (info.readonlyPaths) readonly = [...(readonly ?? []), ...info.readonlyPaths];
    if (info.sysctl) linux.sysctl = { ...linux.sysctl, ...info.sysctl };
    if (info.annotations) spec.annotations = { ...spec.annotations, ...info.annotations };
    if (info.cgroupsPath !== undefined) {
      if (cgroupsPath && cgroupsPath.value !== info.cgroupsPath) {
        throw new InternalError(
          `cgroupsPath "${cgroupsPath.value}" from "${cgroupsPath.from}" and "${info.cgroupsPath}" from "${isolator}" differ`,
        );
      }
      cgroupsPath = { value: info.cgroupsPath, from: isolator };
    }
    if (info.rootfsPropagation !== undefined) {
      const rank = (p: string | undefined): number => (p ? (PROPAGATION_RANK[p] ?? 0) : -1);
      if (rank(info.rootfsPropagation) > rank(propagation)) propagation = info.rootfsPropagation;
    }
    const r = info.resources;
    if (r) {
      for (const k of SINGLE_RESOURCES) {
        if (r[k] === undefined) continue;
        claim(`resources.${k}`, isolator);
        Object.assign(resources, { [k]: structuredClone(r[k]) });
      }
      if (r.devices) resources.devices = [...(resources.devices ?? []), ...r.devices.map((d) => ({ ...d }))];
      if (r.hugepageLimits) resources.hugepageLimits = [...(resources.hugepageLimits ?? []), ...r.hugepageLimits];
      if (r.unified) resources.unified = { ...resources.unified, ...r.unified };
    }
  }

  if (!seccompSet) linux.seccomp = runtimeDefaultSeccomp(DEFAULT_CAPABILITIES);
  proc.env = [...env].map(([k, v]) => `${k}=${v}`);
  spec.mounts = [...defaults.map((m) => replaced.get(m.destination) ?? m), ...extraMounts];
  linux.namespaces = [...namespaces.values()];
  if (devices.size > 0) linux.devices = [...devices.values()];
  linux.resources = resources;
  if (masked) linux.maskedPaths = masked;
  if (readonly) linux.readonlyPaths = readonly;
  if (cgroupsPath) linux.cgroupsPath = cgroupsPath.value;
  if (propagation) linux.rootfsPropagation = propagation;
  if (!namespaces.has('uts')) delete spec.hostname;
  if (base.annotations) spec.annotations = { ...base.annotations, ...spec.annotations };
  return fitSpecToHost(spec);
}
