/**
 * Marks a directory as the top of separate directory hierarchies for the Orlov allocator of ext2/3/4
 * (`chattr +T`, EXT4_TOPDIR_FL): each directory made directly in it then goes to a block group chosen for it
 * (free inodes and blocks above the average, few directories) instead of its parent's, and the files made
 * inside follow their directory. ucri makes one such subtree per image layer being extracted and per
 * container's rootfs dirs. It matters most on an ext4 without a journal: there a new inode skips every free
 * inode of its group whose deletion is recent (60 s, or 300 s while its inode table block is dirty), one
 * buffer-cache lookup each, so extracting a layer where its previous copy was just removed cost ~0.6 ms of
 * kernel CPU per file instead of ~20 µs (docs/performance.md, "This VM's filesystem", phase 13).
 *
 * A hint only: on another filesystem, or without chattr (e2fsprogs), the directory stays as it was. The
 * flag is kept on disk and is not inherited by subdirectories.
 */
import { logger } from '../util/index.js';
import { run } from './spawn.js';

const log = logger('sys/top-dir');

/** Sets the flag on `dir` (which must exist); true when it is set, false when the filesystem or tools refuse. */
export async function markTopDir(dir: string): Promise<boolean> {
  try {
    const r = await run('chattr', ['+T', dir], { allowFailure: true });
    if (r.code === 0) return true;
    log.debug({ dir, err: r.stderr.trim() }, 'directory not marked as a top directory');
  } catch (err) {
    log.debug({ dir, err }, 'chattr not run');
  }
  return false;
}
