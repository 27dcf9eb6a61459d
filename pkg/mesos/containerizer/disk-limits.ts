/**
 * Disk limits of writable layers (Mesos `disk/du` with `--enforce_container_disk_quota`): the provisioner
 * measures every writable layer in the background (provisioner watchUsage); after each pass, a running
 * container whose layer is larger than its limit is killed and ends with reason `DiskLimitExceeded`.
 *
 * The limit is the pod annotation `io.ucri.disk-limit` (a byte quantity such as "500Mi"), else the daemon's
 * `--container_disk_limit`; 0 means none. The decision is checkpointed in the container record before the
 * kill, so a daemon that restarts between the two still reports the reason when it collects the exit.
 */
import { InvalidArgumentError, errorMessage, isKind, parseByteQuantity } from '../../util/index.js';
import type { Limitation } from '../isolator.js';
import { type Engine, log } from './engine.js';
import { type Container, saveContainer } from './records.js';

/** The pod annotation that sets the writable-layer limit of each of the pod's containers. */
export const DISK_LIMIT_ANNOTATION = 'io.ucri.disk-limit';

/** The pod's own limit in bytes, undefined when it sets none; InvalidArgumentError for a malformed value. */
export function podDiskLimit(annotations: Readonly<Record<string, string>>): number | undefined {
  const raw = annotations[DISK_LIMIT_ANNOTATION];
  if (raw === undefined) return undefined;
  const bytes = parseByteQuantity(raw);
  if (bytes === undefined) {
    throw new InvalidArgumentError(
      `annotation "${DISK_LIMIT_ANNOTATION}" must be a byte quantity such as "500Mi" or "0" (got "${raw}")`,
    );
  }
  return bytes;
}

function limitOf(defaultLimit: number, c: Container): number {
  try {
    return podDiskLimit(c.pod.rec.spec.annotations) ?? defaultLimit;
  } catch {
    return defaultLimit; // validated when the pod was run; a record edited by hand falls back
  }
}

/** The limitation of a container killed for its disk usage, from its record. */
export function diskLimitation(c: Container): Limitation | undefined {
  const x = c.rec.diskLimitExceeded;
  if (!x) return undefined;
  return {
    reason: 'DiskLimitExceeded',
    message: `the writable layer used ${x.bytes} bytes, more than the disk limit of ${x.limit} bytes`,
  };
}

/** After a measuring pass: kills each running container whose writable layer exceeds its limit. */
export async function enforceDiskLimits(
  e: Engine,
  defaultLimit: number,
  figures: ReadonlyMap<string, { bytes: number }>,
): Promise<void> {
  for (const [id, { bytes }] of figures) {
    const c = e.containers.get(id);
    if (c?.rec.state !== 'RUNNING' || c.rec.termination || c.rec.diskLimitExceeded) continue;
    const limit = limitOf(defaultLimit, c);
    if (limit === 0 || bytes <= limit) continue;
    log.warn({ id, bytes, limit }, 'writable layer over its disk limit: killing the container');
    try {
      // Durable before the kill: recovery must still tell why the container ended.
      c.rec.diskLimitExceeded = { bytes, limit };
      await saveContainer(e.paths, c.rec);
      if (c.rec.state !== 'RUNNING' || c.rec.termination) continue;
      await e.launcher.kill(id, 'SIGKILL', true);
    } catch (err) {
      if (!isKind(err, 'NotFound')) log.error({ id, err: errorMessage(err) }, 'disk limit not enforced');
    }
  }
}
