/**
 * What the CRI verbs are given: the composing containerizer and the facts about this daemon. Built once by
 * `cmd/ucri` and passed to every verb factory, so verbs never reach for globals.
 */
import type { ComposingContainerizer } from '../containerizer/index.js';
import type { RuntimeConfigStore } from './store/runtime-config.js';

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
}
