/** ExecSync: a command run to completion inside a running container. */
import type { ExecResult } from '../../containerizer/index.js';
import type { Process } from '../../oci/index.js';
import { FailedPreconditionError } from '../../util/index.js';
import { type Engine, getContainer } from './engine.js';
import { requireRunning } from './status.js';

/** Runs `cmd` as the container's own process runs (user, env, cwd, capabilities), args replaced. */
export async function execSync(
  e: Engine,
  id: string,
  cmd: string[],
  timeoutSeconds: number,
  signal: AbortSignal,
): Promise<ExecResult> {
  const c = getContainer(e, id);
  requireRunning(c);
  const base = c.rec.oci.process;
  if (!base) throw new FailedPreconditionError(`container "${id}" has no process spec`);
  const proc: Process = { ...base, args: [...cmd], terminal: false };
  delete proc.consoleSize;
  return e.launcher.exec(id, proc, Math.max(0, timeoutSeconds) * 1000, signal);
}
