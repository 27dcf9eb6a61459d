/**
 * The containerizer's internal parts, shared by its files: the launcher, provisioner and ordered isolators,
 * the in-memory pods and containers, and the per-id lock that plays the Mesos actor. Nothing outside the
 * containerizer sees this.
 */
import type { ContainerSpec, PodSpec } from '../../containerizer/index.js';
import type { Spec } from '../../oci/index.js';
import { type KeyedLock, logger, NotFoundError } from '../../util/index.js';
import type { ContainerContext, Isolator, LaunchInfo, PodState } from '../isolator.js';
import type { Launcher } from '../launcher/index.js';
import type { MesosPaths } from '../paths.js';
import type { Provisioner } from '../provisioner/types.js';
import type { Container, Pod } from './records.js';

export const log = logger('mesos/containerizer');

/** One isolator's prepare result, named for merge errors. */
export interface NamedLaunchInfo {
  isolator: string;
  info: LaunchInfo;
}

/** Merges the isolators' launch infos into the container's OCI spec (launch-info.ts buildSpec). */
export type SpecBuilder = (ctx: ContainerContext, infos: NamedLaunchInfo[]) => Spec | Promise<Spec>;

/** How pod and container cgroups are named (the cgroups isolators' rules). */
export interface CgroupNaming {
  /** Relative cgroup path of a pod (kubelet's parent, else `<cgroups_root>/<podId>`). */
  pod(spec: PodSpec): string;
  /** Relative cgroup path of a container of a pod. */
  container(pod: PodState, spec: ContainerSpec): string;
  /** The OCI `cgroupsPath` of a relative cgroup path (cgroupfs `/a/b`, or systemd `slice:prefix:name`). */
  ociPath(relative: string): string;
  /** Pod cgroups below this root are ucri's own: orphans there are destroyed. Empty: none (systemd). */
  ownedRoot: string;
}

export interface Engine {
  readonly paths: MesosPaths;
  readonly launcher: Launcher;
  readonly provisioner: Provisioner;
  readonly isolators: readonly Isolator[];
  readonly buildSpec: SpecBuilder;
  readonly cgroups: CgroupNaming;
  readonly pods: Map<string, Pod>;
  readonly containers: Map<string, Container>;
  /** Per-id lock; pod ids and container ids never collide. Pod operations may take container locks, never the reverse. */
  readonly lock: KeyedLock;
  /** Grace between SIGTERM and SIGKILL when a pod's infra process is stopped. */
  readonly infraStopGraceMs: number;
  /**
   * Removed containers whose release runs in the background (containers.ts removeContainer `later`), by id;
   * `done` resolves true once released, false when it failed (it is then redone by removePod).
   */
  readonly releasing: Map<string, { container: Container; done: Promise<boolean> }>;
  /** The same for removed pods (pod.ts removePod `later`). */
  readonly releasingPods: Map<string, { pod: Pod; done: Promise<boolean> }>;
}

export function getContainer(e: Engine, id: string): Container {
  const c = e.containers.get(id);
  if (!c) throw new NotFoundError(`container "${id}" not found`);
  return c;
}

export function getPod(e: Engine, id: string): Pod {
  const p = e.pods.get(id);
  if (!p) throw new NotFoundError(`pod sandbox "${id}" not found`);
  return p;
}
