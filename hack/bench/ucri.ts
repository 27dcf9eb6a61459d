/** ucri under bench: `ucri serve` with its own temp root and cgroups root, on the bench's CNI config. */
import { startDaemon } from '../../test/support/daemon.js';
import { CNI_PLUGINS_DIR } from './env.js';
import type { BenchRuntime } from './runtime.js';

export async function startUcri(cniConfigDir: string, extraFlags: readonly string[] = []): Promise<BenchRuntime> {
  const d = await startDaemon({
    // BENCH_UCRI_PROGRAM runs another build's daemon under this bench (an A/B with one harness): a launcher
    // such as `exec node <node flags> /other/dist/bundle/ucri/main.js "$@"`.
    ...(process.env.BENCH_UCRI_PROGRAM ? { program: process.env.BENCH_UCRI_PROGRAM } : {}),
    flags: [
      `--network_cni_config_dir=${cniConfigDir}`,
      `--network_cni_plugins_dir=${CNI_PLUGINS_DIR}`,
      '--log_level=warn',
      ...extraFlags,
    ],
    // BENCH_UCRI_NODE_ARGS reaches only the daemon's node (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
    nodeArgs: (process.env.BENCH_UCRI_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
    env: {
      UCRI_LOG_LEVEL: 'warn',
      ...(process.env.BENCH_UCRI_TRACE ? { UCRI_TRACE: process.env.BENCH_UCRI_TRACE } : {}),
      // The daemon's per-RPC cost totals (pkg/util/profile.ts), written when it exits.
      ...(process.env.BENCH_UCRI_PROFILE ? { UCRI_PROFILE: process.env.BENCH_UCRI_PROFILE } : {}),
    },
  });
  const root = `${d.root}/`;
  return {
    name: 'ucri',
    client: d.client(),
    pid: d.proc.pid!,
    // A container monitor of this daemon: conmon, or ucri's own (dist/native/monitor), whichever is configured;
    // argv[0] is the binary, the bundle under `root` is an argument.
    isMonitor: (p) => /^([^\0]*\/)?(conmon|monitor)\0/.test(p.cmdline) && p.cmdline.includes(root),
    async close() {
      await d.stop();
      await d.cleanup();
    },
  };
}
