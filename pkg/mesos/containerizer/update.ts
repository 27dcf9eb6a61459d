/**
 * Resource updates of a created or running container.
 *
 * Resource updates take one path: the isolators' update() hooks (the cgroups/* isolators write the cgroup
 * files through pkg/sys, which speaks v1 and v2). `runc update` is used only when no configured isolator
 * implements update, so that a containerizer without cgroups isolators can still change limits. A created
 * container has no cgroup yet: its new resources are kept and applied right after isolation at start.
 */
import type { Resources } from '../../containerizer/index.js';
import type { LinuxResources } from '../../oci/index.js';
import { detectCgroups } from '../../sys/index.js';
import { FailedPreconditionError, InvalidArgumentError } from '../../util/index.js';
import { cpuResources } from '../isolators/cgroups/cpu.js';
import { updateThroughIsolators } from './containers.js';
import { type Engine, getContainer } from './engine.js';
import { saveContainer } from './records.js';

/** Changes the limits of a created or running container (see the header for the path taken). */
export async function update(e: Engine, id: string, resources: Resources, signal: AbortSignal): Promise<void> {
  // Refused up front, whatever the state: a created container would otherwise keep them and fail to start.
  if (Object.keys(resources.unified).length > 0 && (await detectCgroups()).mode !== 'v2') {
    throw new InvalidArgumentError('unified cgroup settings need a cgroup v2 host');
  }
  await e.lock.run(id, async () => {
    const c = getContainer(e, id);
    if (c.rec.termination || c.rec.state === 'DESTROYING') {
      throw new FailedPreconditionError(`container "${id}" is not running`);
    }
    const before = c.rec.spec;
    c.rec.spec = { ...before, resources };
    try {
      if (c.rec.state === 'RUNNING') {
        if (!(await updateThroughIsolators(e, c, signal))) await e.launcher.update(id, toOciResources(resources));
      } else {
        c.rec.pendingResources = true;
      }
      await saveContainer(e.paths, c.rec);
    } catch (err) {
      c.rec.spec = before;
      throw err;
    }
  });
}

/** The CRI resources in OCI form (zero: not set), for `runc update`; the CPU part is the isolator's. */
export function toOciResources(r: Resources): LinuxResources {
  const out: LinuxResources = {};
  const cpu = cpuResources(r);
  if (cpu) out.cpu = cpu;
  if (r.memoryLimitBytes > 0) {
    out.memory = { limit: r.memoryLimitBytes };
    if (r.memorySwapLimitBytes > 0) out.memory.swap = r.memorySwapLimitBytes;
  }
  if (Object.keys(r.unified).length > 0) out.unified = { ...r.unified };
  return out;
}
