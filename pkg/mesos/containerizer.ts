/**
 * The Mesos containerizer (Mesos `MesosContainerizer`): provisioner + ordered isolators + launcher.
 * This is its first slice: it knows its launcher's host programs and its network configuration, and
 * reports readiness from them. Pods and containers arrive with the pods-and-containers issue.
 */
import type { Condition, Conditions, Containerizer, HandlerFeatures } from '../containerizer/index.js';
import { findExecutable } from '../util/index.js';
import { scanCniConfigs } from './isolators/network/cni-config.js';

export interface MesosOptions {
  /** OCI runtime name (`runc`, `crun`) and optional explicit path. */
  ociRuntime: string;
  ociRuntimePath?: string;
  conmonPath?: string;
  /** Isolators in order (`--isolation`). */
  isolation: readonly string[];
  cniConfigDir: string;
  cniPluginDirs: readonly string[];
}

const READY: Condition = { ready: true, reason: '', message: '' };

export class MesosContainerizer implements Containerizer {
  readonly handlers = ['mesos'] as const;
  readonly features: HandlerFeatures = { recursiveReadOnlyMounts: false, userNamespaces: false };

  constructor(private readonly opts: MesosOptions) {}

  async conditions(): Promise<Conditions> {
    const [runtime, network] = await Promise.all([this.runtimeCondition(), this.networkCondition()]);
    return { runtime, network };
  }

  /** Ready when the launcher's programs (the OCI runtime and conmon) are installed. */
  private async runtimeCondition(): Promise<Condition> {
    const missing: string[] = [];
    if (!(await findExecutable(this.opts.ociRuntimePath ?? this.opts.ociRuntime))) {
      missing.push(`OCI runtime "${this.opts.ociRuntimePath ?? this.opts.ociRuntime}"`);
    }
    if (!(await findExecutable(this.opts.conmonPath ?? 'conmon')))
      missing.push(`"${this.opts.conmonPath ?? 'conmon'}"`);
    if (missing.length === 0) return READY;
    return { ready: false, reason: 'RuntimeBinaryMissing', message: `not installed: ${missing.join(', ')}` };
  }

  /** Ready when network/cni is off (host networking only) or a usable CNI network config exists. */
  private async networkCondition(): Promise<Condition> {
    if (!this.opts.isolation.includes('network/cni')) return READY;
    const scan = await scanCniConfigs(this.opts.cniConfigDir, this.opts.cniPluginDirs);
    if (scan.networks.length > 0) return READY;
    return {
      ready: false,
      reason: 'NetworkPluginNotReady',
      message: `no usable CNI network config: ${scan.problems.join('; ')}`,
    };
  }
}
