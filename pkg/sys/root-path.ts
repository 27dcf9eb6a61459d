/**
 * Paths inside an untrusted root filesystem (an image's rootfs or layer), resolved the way the kernel would
 * inside a chroot at that root: absolute symlink targets start again at the root and `..` never climbs
 * above it, so the result never leaves the root.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../util/index.js';

/** Symlinks followed in one resolution before it counts as a loop (the kernel's MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

/**
 * The host path of `p` inside `root` with every symlink resolved within `root`; undefined when a component
 * does not exist (or one before the last is not a directory, or a name is too long). InvalidArgumentError when resolving follows
 * more than 40 symlinks.
 */
export async function resolveInRoot(root: string, p: string): Promise<string | undefined> {
  const base = path.resolve(root);
  const pending = p.split('/').filter((s) => s !== '' && s !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = path.join(base, ...done, part);
    let st: import('node:fs').Stats;
    try {
      st = await fs.lstat(host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return undefined;
      throw err;
    }
    if (!st.isSymbolicLink()) {
      done.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new InvalidArgumentError(`too many symlinks resolving "${p}" in the rootfs`);
    const target = await fs.readlink(host);
    if (target.startsWith('/')) done.length = 0;
    pending.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'));
  }
  return path.join(base, ...done);
}
