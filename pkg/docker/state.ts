/**
 * What the Docker containerizer keeps in memory about its containers (a cache of dockerd's state, rebuilt
 * by recovery), and the part of the containerizer recovery works on.
 */
import type { ContainerRuntime, ContainerSpec, Termination } from '../containerizer/index.js';
import type { EngineApi } from './api.js';
import type { LogFollower } from './log-writer.js';
import type { DockerPod, PodDeps } from './pod.js';

/** What the containerizer keeps about a container. */
export interface DockerContainer {
  spec: ContainerSpec;
  dockerId: string;
  runtime: ContainerRuntime;
  /** cgroup path (relative) of the running process, for usage. */
  cgroup: string;
  follower: LogFollower | undefined;
  /** Resolves with the termination once the exit watcher saw it. */
  exit: Promise<Termination> | undefined;
  /** The writable layer's directory on the host (overlay2 UpperDir), once known. */
  upperDir?: string;
  /** Its size as the background sweep last measured it (stats never walk the tree themselves). */
  layer?: { bytes: number; inodes: number };
}

/** What recovery needs of the containerizer. */
export interface RecoverTarget {
  api: EngineApi;
  podDeps: PodDeps;
  pods: Map<string, DockerPod>;
  containers: Map<string, DockerContainer>;
  /** Takes a running container's facts from dockerd and arms its log follower and exit watch. */
  attachRunning(c: DockerContainer): Promise<void>;
}
