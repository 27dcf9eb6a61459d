/** ReopenContainerLog: the log file is rotated by the kubelet and reopened by conmon. */
import { type Engine, getContainer } from './engine.js';
import { requireRunning } from './status.js';

/** Asks conmon to reopen the CRI log file. */
export async function reopenLog(e: Engine, id: string): Promise<void> {
  const c = getContainer(e, id);
  requireRunning(c);
  if (c.rec.spec.logPath === '') return;
  await e.launcher.reopenLog(id, c.bundle, c.rec.spec.logPath);
}
