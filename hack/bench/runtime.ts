/** One CRI runtime under bench: a daemon started by the bench, reached with the project's own CRI client. */
import type { CriClient } from '../../test/support/cri-client.js';
import type { ProcInfo } from './memory.js';

export interface BenchRuntime {
  name: 'ucri' | 'containerd';
  client: CriClient;
  /** The daemon's PID. */
  pid: number;
  /** The per-container or per-pod monitor processes of this instance (conmon, containerd-shim-runc-v2). */
  isMonitor(p: ProcInfo): boolean;
  /** Stops the daemon (by PID) and removes everything it made. */
  close(): Promise<void>;
}
