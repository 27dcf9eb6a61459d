/**
 * What the cgroups/* isolators share: the naming of pod and container cgroups for both drivers, and the pod
 * cgroup's lifecycle. Each of cgroups/cpu, cgroups/mem and cgroups/pids is a subclass that contributes its
 * own controller's part; any of them alone is enough to get the pod cgroup made and removed.
 *
 * Naming (relative to every hierarchy, as pkg/sys cgroups expects):
 *   cgroupfs: pod `<cgroup_parent>` or `<cgroups_root>/<podId>`; container `<pod>/<containerId>`;
 *             OCI cgroupsPath `/<container>`.
 *   systemd:  pod slice `<cgroup_parent>` or `<cgroups_root>-pod<podId>.slice`, expanded the systemd way
 *             (`a-b.slice` lives at `a.slice/a-b.slice`); container `<pod>/ucri-<id>.scope`;
 *             OCI cgroupsPath `<slice>:ucri:<id>` (runc asks systemd to make the scope).
 */
import type { PodSpec, Resources } from '../../../containerizer/index.js';
import {
  type CgroupDriver,
  type CgroupLimits,
  cgroupExists,
  createCgroup,
  destroyCgroup,
  setCgroupLimits,
  validateCgroupPath,
} from '../../../sys/index.js';
import { errorMessage, InvalidArgumentError, logger } from '../../../util/index.js';
import type { ContainerContext, Isolator, LaunchInfo, PodContext } from '../../isolator.js';

const log = logger('mesos/isolators/cgroups');

/** The subset of IsolatorDeps the cgroups isolators use (kept here so they need not import the table). */
export interface CgroupDeps {
  cgroupDriver: CgroupDriver;
  cgroupsRoot: string;
  pidsLimit?: number;
}

const SLICE_RE = /^[A-Za-z0-9_.:@-]+\.slice$/;
const SCOPE_PREFIX = 'ucri';

/** Expands a systemd slice name into its path: `a-b-c.slice` → `a.slice/a-b.slice/a-b-c.slice`. */
export function expandSlice(slice: string): string {
  if (!SLICE_RE.test(slice)) throw new InvalidArgumentError(`invalid systemd slice "${slice}"`);
  const stem = slice.slice(0, -'.slice'.length);
  if (stem === '-') return '';
  const parts = stem.split('-');
  if (parts.some((p) => p === '')) throw new InvalidArgumentError(`invalid systemd slice "${slice}"`);
  return parts.map((_, i) => `${parts.slice(0, i + 1).join('-')}.slice`).join('/');
}

/** The pod's systemd slice name (only meaningful with the systemd driver). */
function podSlice(spec: PodSpec, deps: CgroupDeps): string {
  return spec.cgroupParent !== '' ? spec.cgroupParent : `${deps.cgroupsRoot}-pod${spec.id}.slice`;
}

/**
 * The pod cgroup path relative to the hierarchies: kubelet's cgroup parent when given, else one under
 * `--cgroups_root`. InvalidArgumentError for a malformed parent.
 */
export function podCgroupPath(spec: PodSpec, deps: CgroupDeps): string {
  if (deps.cgroupDriver === 'systemd') return validateCgroupPath(expandSlice(podSlice(spec, deps)));
  if (spec.cgroupParent !== '') return validateCgroupPath(spec.cgroupParent);
  return validateCgroupPath(`${deps.cgroupsRoot}/${spec.id}`);
}

/** The container cgroup path relative to the hierarchies, below the pod's. */
export function containerCgroupPath(podCgroup: string, containerId: string, driver: CgroupDriver): string {
  const leaf = driver === 'systemd' ? `${SCOPE_PREFIX}-${containerId}.scope` : containerId;
  return validateCgroupPath(`${podCgroup}/${leaf}`);
}

/** The OCI `linux.cgroupsPath` of a container. */
export function ociCgroupsPath(ctx: ContainerContext, deps: CgroupDeps): string {
  if (deps.cgroupDriver === 'systemd') return `${podSlice(ctx.pod.spec, deps)}:${SCOPE_PREFIX}:${ctx.spec.id}`;
  return `/${containerCgroup(ctx, deps)}`;
}

/** The pod's cgroup, from its state when the containerizer filled it, else derived from its spec. */
export function podCgroup(pod: PodContext, deps: CgroupDeps): string {
  return pod.state.cgroup !== '' ? validateCgroupPath(pod.state.cgroup) : podCgroupPath(pod.spec, deps);
}

/** The container's cgroup, from its context when filled, else derived. */
export function containerCgroup(ctx: ContainerContext, deps: CgroupDeps): string {
  if (ctx.cgroup !== '') return validateCgroupPath(ctx.cgroup);
  return containerCgroupPath(podCgroup(ctx.pod, deps), ctx.spec.id, deps.cgroupDriver);
}

/** A positive number or undefined ("0 means not set" in CRI resources). */
export function positive(v: number): number | undefined {
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

/**
 * Base of the cgroups/* isolators. setupPod makes the pod cgroup (cgroupfs: ucri owns the tree; with
 * systemd, runc and systemd make slices and scopes) and applies this controller's part of the pod-level
 * resources; cleanupPod removes the pod cgroup only when ucri chose it (no kubelet cgroup parent).
 */
export abstract class CgroupsIsolator implements Isolator {
  abstract readonly name: string;

  constructor(protected readonly deps: CgroupDeps) {}

  /** This controller's part of `res` as cgroup file limits (for pods and for update). */
  protected abstract limits(res: Resources): CgroupLimits;
  /** This controller's part of the OCI resources of a container. */
  protected abstract resources(ctx: ContainerContext): Promise<LaunchInfo['resources']>;

  /**
   * Re-applies each live pod's recorded limits: UpdatePodSandboxResources records the new limits before it
   * writes them, so a crash in between is completed here. Idempotent; a pod whose cgroup is gone is skipped.
   */
  async recover(pods: PodContext[]): Promise<void> {
    for (const pod of pods) {
      if (!pod.spec.resources || pod.state.cgroup === '') continue;
      const lim = this.limits(pod.spec.resources);
      if (Object.keys(lim).length === 0 || !(await cgroupExists(pod.state.cgroup))) continue;
      await setCgroupLimits(pod.state.cgroup, lim).catch((err: unknown) => {
        log.warn({ pod: pod.spec.id, isolator: this.name, err: errorMessage(err) }, 'pod limits not re-applied');
      });
    }
  }

  async setupPod(pod: PodContext): Promise<void> {
    const cg = podCgroup(pod, this.deps);
    if (pod.state.cgroup === '') pod.state.cgroup = cg;
    if (this.deps.cgroupDriver !== 'cgroupfs') return;
    await createCgroup(cg);
    if (pod.spec.resources) await setCgroupLimits(cg, this.limits(pod.spec.resources));
  }

  async prepare(ctx: ContainerContext): Promise<LaunchInfo> {
    const info: LaunchInfo = { cgroupsPath: ociCgroupsPath(ctx, this.deps) };
    const res = await this.resources(ctx);
    if (res && Object.keys(res).length > 0) info.resources = res;
    return info;
  }

  async update(ctx: ContainerContext, resources: Resources): Promise<void> {
    const lim = this.limits(resources);
    if (Object.keys(lim).length > 0) await setCgroupLimits(containerCgroup(ctx, this.deps), lim);
  }

  /**
   * Writes this controller's part of the new pod limits to the pod cgroup in place (the containers' own
   * cgroups below it are untouched). With the systemd driver the pod slice exists only while it has
   * containers; when it does not, there is nothing to limit yet.
   */
  async updatePod(pod: PodContext, resources: Resources): Promise<void> {
    const lim = this.limits(resources);
    if (Object.keys(lim).length === 0) return;
    const cg = podCgroup(pod, this.deps);
    if (this.deps.cgroupDriver !== 'cgroupfs' && !(await cgroupExists(cg))) return;
    await setCgroupLimits(cg, lim);
  }

  async cleanupPod(pod: PodContext): Promise<void> {
    if (this.deps.cgroupDriver !== 'cgroupfs' || pod.spec.cgroupParent !== '') return;
    await destroyCgroup(podCgroup(pod, this.deps));
  }
}
