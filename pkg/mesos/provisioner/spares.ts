/**
 * Spare dir trees for the next overlay rootfses, made in the background so that a create moves one into
 * place with a single rename instead of making nine dirs on its path (docs/performance.md, "CreateContainer,
 * phase 10" and "Phase 15").
 *
 * An overlay rootfs needs its container dir and, below it, `backends/overlay/rootfses/<rootfsId>` (the mount
 * point) and `backends/overlay/scratch/<rootfsId>/{upper,work}`. A spare is exactly that tree, rooted at what
 * becomes the container's dir and named `.spare-<rootfsId>` in the container store (the same directory, so one
 * rename(2) moves it; no container id starts with a dot). The container dir is the costly one to make on the
 * request's path: the store is a top directory for ext4's Orlov allocator (pkg/sys markTopDir), whose group
 * search for each new dir there took ~0.2 ms on the event loop. The modes are the ones the provision makes:
 * 0700 down to `rootfses`, 0755 for the mount point and the scratch dirs, 0700 for work.
 *
 * A spare is only empty dirs of ucri's own store: nothing is mounted in it and nothing names it. A clean stop
 * removes the ready ones; recovery removes every `.spare-*` (a crash may leave some, one half-made); a create
 * that finds no spare ready makes the dirs itself, as before. Spares are made one at a time through the thread
 * pool, 25 ms after a create took one.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs, renameSync } from 'node:fs';
import path from 'node:path';
import { errorMessage, logger, makeDirs } from '../../util/index.js';

/** Looked up per use, so a later configureLogging (daemon start-up, silent tests) takes effect. */
const log = () => logger('mesos/provisioner');

/** How long after a spare was taken the refill starts. */
const REFILL_DELAY_MS = 25;

/** Names of spare trees in the container store. */
export const SPARE_PREFIX = '.spare-';

/** The dirs of a spare from its root (the container dir to be), parents first, with their modes. */
function spareDirs(root: string, rootfsId: string): Array<[string, number]> {
  const backends = path.join(root, 'backends');
  const overlay = path.join(backends, 'overlay');
  const scratch = path.join(overlay, 'scratch', rootfsId);
  return [
    [root, 0o700],
    [backends, 0o700],
    [overlay, 0o700],
    [path.join(overlay, 'rootfses'), 0o700],
    [path.join(overlay, 'rootfses', rootfsId), 0o755],
    [path.join(overlay, 'scratch'), 0o755],
    [scratch, 0o755],
    [path.join(scratch, 'upper'), 0o755],
    [path.join(scratch, 'work'), 0o700],
  ];
}

export class OverlaySpares {
  /** Rootfs ids of the spares ready to be taken. */
  private readonly ready: string[] = [];
  private filling: Promise<void> | undefined;
  private closed = false;
  /** The one close (the containerizer's close and its shutdown both call it; both wait for the same end). */
  private closing: Promise<void> | undefined;

  /** `dir` is the container store; `target` how many spares are kept ready. */
  constructor(
    private readonly dir: string,
    private readonly target: number,
  ) {}

  /**
   * Moves a ready spare to `containerDir` (a new container's dir in the store) and returns its rootfs id;
   * undefined when none is ready or the move failed (the caller then makes the dirs). A `containerDir` that
   * exists and is not empty stays as it is (the caller finds it) and the spare stays ready; an empty one is
   * replaced, which leaves what a mkdir would have made. The pool is refilled afterwards.
   */
  take(containerDir: string): string | undefined {
    const rootfsId = this.ready.pop();
    this.refill();
    if (rootfsId === undefined) return undefined;
    try {
      renameSync(path.join(this.dir, SPARE_PREFIX + rootfsId), containerDir);
      return rootfsId;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        this.ready.push(rootfsId);
        return undefined;
      }
      log().warn({ rootfsId, err: errorMessage(err) }, 'spare rootfs dirs could not be moved; making them');
      void this.remove(rootfsId);
      return undefined;
    }
  }

  /** Starts making spares up to the target in the background, unless that runs already. */
  refill(): void {
    if (this.filling || this.closed || this.ready.length >= this.target) return;
    this.filling = (async () => {
      // A little later: the create that took one finishes first (its prepare's stat and its durable round use
      // the same thread pool), and creates that come close together take what is ready meanwhile.
      await new Promise((r) => setTimeout(r, REFILL_DELAY_MS));
      while (!this.closed && this.ready.length < this.target) {
        const rootfsId = randomBytes(8).toString('hex');
        try {
          // One job of the pool for the nine dirs (pkg/util makeDirs), not one each.
          await makeDirs(spareDirs(path.join(this.dir, SPARE_PREFIX + rootfsId), rootfsId));
        } catch (err) {
          log().warn({ err: errorMessage(err) }, 'spare rootfs dirs not made');
          await this.remove(rootfsId);
          return;
        }
        if (this.closed) {
          await this.remove(rootfsId);
          return;
        }
        this.ready.push(rootfsId);
      }
    })().finally(() => {
      this.filling = undefined;
    });
  }

  /** Waits for a refill under way and drops every ready spare from the pool (recovery removes them on disk). */
  async forget(): Promise<void> {
    await this.filling;
    this.ready.length = 0;
  }

  /** Stops refilling, waits for a refill under way and removes the ready spares (a clean stop leaves none). */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= (async () => {
      await this.filling;
      for (const rootfsId of this.ready.splice(0)) await this.remove(rootfsId);
    })();
    return this.closing;
  }

  private async remove(rootfsId: string): Promise<void> {
    await fs.rm(path.join(this.dir, SPARE_PREFIX + rootfsId), { recursive: true, force: true }).catch(() => {});
  }
}
