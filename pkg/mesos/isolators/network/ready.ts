/**
 * network/cni as the isolator table builds it: the CNI isolator plus its readiness condition (NetworkReady).
 * The CNI config dir is re-scanned on every call, so the condition follows the directory without a restart.
 * Reasons: NoCNIConfig (no config file), InvalidCNIConfig (only unparsable/invalid files), CNIPluginMissing
 * (a config names a plugin that is not installed).
 */
import type { IsolatorCondition } from '../../isolator.js';
import { CniIsolator, type CniIsolatorOptions } from './cni.js';
import { scanCniConfigs } from '../../../cni/index.js';

export class ReportingCniIsolator extends CniIsolator {
  constructor(private readonly cfg: CniIsolatorOptions) {
    super(cfg);
  }

  async condition(): Promise<IsolatorCondition> {
    const scan = await scanCniConfigs(this.cfg.configDir, this.cfg.pluginDirs);
    if (scan.networks.length > 0) return { type: 'network', ready: true, reason: '', message: '' };
    return {
      type: 'network',
      ready: false,
      reason: scan.reason ?? 'NoCNIConfig',
      message: `no usable CNI network config: ${scan.problems.join('; ')}`,
    };
  }
}
