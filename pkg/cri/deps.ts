/**
 * What the CRI verbs are given: the composing containerizer and the facts about this daemon. Built once by
 * `cmd/ucri` and passed to every verb factory, so verbs never reach for globals.
 */
import type { ComposingContainerizer, ImageManager } from '../containerizer/index.js';
import type { KeyedLock } from '../util/index.js';
import type { ContainerEvents } from './events.js';
import type { ContainerStore } from './store/container.js';
import type { StreamUrls } from './streaming/index.js';
import type { RuntimeConfigStore } from './store/runtime-config.js';
import type { SandboxStore } from './store/sandbox.js';

export interface RuntimeInfo {
  /** ucri's own version (package.json). */
  version: string;
  /** The host's cgroup driver as detected or configured. */
  cgroupDriver: 'systemd' | 'cgroupfs';
  /** The effective configuration, secrets redacted: shown by verbose Status (`crictl info`). */
  config: Record<string, unknown>;
}

export interface CriDeps {
  containerizer: ComposingContainerizer;
  info: RuntimeInfo;
  runtimeConfig: RuntimeConfigStore;
  /** The image store (ImageService, and CreateContainer's image lookup). */
  images: ImageManager;
  /** Pod sandbox and container records (see pkg/cri/store). */
  sandboxes: SandboxStore;
  containers: ContainerStore;
  /** GetContainerEvents fan-out. */
  events: ContainerEvents;
  /** Per-id lifecycle lock (sandbox and container ids never collide). */
  locks: KeyedLock;
  /** The streaming server behind Exec, Attach and PortForward (absent: those verbs answer UNAVAILABLE). */
  streaming?: StreamUrls;
}
