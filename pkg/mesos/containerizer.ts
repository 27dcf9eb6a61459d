/**
 * The Mesos containerizer (Mesos `MesosContainerizer`): provisioner + ordered isolators + launcher.
 * This is its first slice: it knows its launcher's host programs and its network configuration, and
 * reports readiness from them. Pods and containers arrive with the pods-and-containers issue.
 */
import type {
  Condition,
  Conditions,
  ContainerRuntime,
  ContainerUsage,
  Containerizer,
  ExecResult,
  HandlerFeatures,
  PodRuntime,
  RecoveredContainer,
  Termination,
} from '../containerizer/index.js';
import { findExecutable, UnimplementedError } from '../util/index.js';
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

  // Placeholders while the pipeline is being built (pods-and-containers issue): each answers UNIMPLEMENTED.
  private todo(what: string): never {
    throw new UnimplementedError(`${what} is not implemented by the mesos containerizer yet`);
  }
  async recover(): Promise<RecoveredContainer[]> {
    return [];
  }
  async runPod(): Promise<PodRuntime> {
    return this.todo('RunPodSandbox');
  }
  async stopPod(): Promise<void> {
    this.todo('StopPodSandbox');
  }
  async removePod(): Promise<void> {
    this.todo('RemovePodSandbox');
  }
  podRuntime(): PodRuntime | undefined {
    return undefined;
  }
  async createContainer(): Promise<ContainerRuntime> {
    return this.todo('CreateContainer');
  }
  async startContainer(): Promise<ContainerRuntime> {
    return this.todo('StartContainer');
  }
  async stopContainer(): Promise<void> {
    this.todo('StopContainer');
  }
  async removeContainer(): Promise<void> {
    this.todo('RemoveContainer');
  }
  containerRuntime(): ContainerRuntime {
    return this.todo('ContainerStatus');
  }
  async wait(): Promise<Termination> {
    return this.todo('wait');
  }
  async update(): Promise<void> {
    this.todo('UpdateContainerResources');
  }
  async usage(): Promise<ContainerUsage> {
    return this.todo('ContainerStats');
  }
  async podUsage(): Promise<ContainerUsage> {
    return this.todo('PodSandboxStats');
  }
  async execSync(): Promise<ExecResult> {
    return this.todo('ExecSync');
  }
  async reopenLog(): Promise<void> {
    this.todo('ReopenContainerLog');
  }
}
