/**
 * Path resolution confined to a layer directory, as if it were a chroot. Every component is looked at with
 * lstat; a symlink is expanded relative to the root (absolute targets restart at the root, `..` stops at the
 * root), so no symlink planted by this or an earlier layer can lead a write outside. Only ucri writes into
 * a layer directory while it is being applied, so what was checked stays true until it is used; the cache of
 * resolved directories is dropped whenever something is removed or replaced. System calls are synchronous:
 * each takes microseconds, while a round trip through libuv's thread pool costs tens of them, and layers are
 * mostly many small files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../../util/index.js';

const MAX_SYMLINK_HOPS = 40;

/**
 * Splits a tar entry name into clean components: leading `/` and `./` dropped (tar names are relative to
 * the root), `.` and empty components removed, `..` applied lexically. A name that climbs above the root is
 * hostile and rejected with InvalidArgumentError.
 */
export function entryComponents(name: string): string[] {
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw new InvalidArgumentError(`layer entry "${name}" escapes the root`);
      out.pop();
      continue;
    }
    out.push(c);
  }
  return out;
}

export class LayerRoot {
  /** Resolved real directory (as components below the root) per entry-name directory prefix. */
  private cache = new Map<string, string[]>();

  /** `root` must be a real path (no symlinks in it). */
  constructor(readonly root: string) {}

  /** Absolute path of some real components below the root. */
  abs(real: readonly string[]): string {
    return real.length === 0 ? this.root : path.join(this.root, ...real);
  }

  /** Forget resolved directories; call after removing or replacing anything that may be a dir or symlink. */
  forget(): void {
    this.cache.clear();
  }

  /**
   * Resolves the directory named by `comps` (entry-name components) to its real location inside the root,
   * following symlinks confined to the root. Missing directories are created (0755, root-owned, like tar)
   * when `create`, else undefined is returned. A non-directory in the way ⇒ InvalidArgumentError.
   */
  dir(comps: readonly string[], create: boolean): string[] | undefined {
    let start = 0;
    let real: string[] = [];
    for (let i = comps.length; i > 0; i--) {
      const hit = this.cache.get(comps.slice(0, i).join('/'));
      if (hit) {
        real = [...hit];
        start = i;
        break;
      }
    }
    let hops = 0;
    for (let i = start; i < comps.length; i++) {
      const pending: string[] = [comps[i]!];
      while (pending.length > 0) {
        const c = pending.shift()!;
        if (c === '' || c === '.') continue;
        if (c === '..') {
          real.pop();
          continue;
        }
        const p = this.abs([...real, c]);
        const st = fs.lstatSync(p, { throwIfNoEntry: false });
        if (!st) {
          if (!create) return undefined;
          fs.mkdirSync(p, { mode: 0o755 });
          real.push(c);
          continue;
        }
        if (st.isDirectory()) {
          real.push(c);
        } else if (st.isSymbolicLink()) {
          if (++hops > MAX_SYMLINK_HOPS) {
            throw new InvalidArgumentError(`too many levels of symbolic links resolving "${comps.join('/')}"`);
          }
          const target = fs.readlinkSync(p);
          if (target.startsWith('/')) real = [];
          pending.unshift(...target.split('/'));
        } else {
          throw new InvalidArgumentError(
            `"${[...real, c].join('/')}" is not a directory (resolving "${comps.join('/')}")`,
          );
        }
      }
      this.cache.set(comps.slice(0, i + 1).join('/'), [...real]);
    }
    return real;
  }

  /**
   * The real parent directory and final name of an entry. The final component is not followed: callers
   * act on it with lstat/unlink/link/symlink/O_EXCL semantics. The root itself has no parent ⇒ undefined.
   */
  parentOf(comps: readonly string[], create: boolean): { dir: string; name: string; real: string[] } | undefined {
    const name = comps[comps.length - 1];
    if (name === undefined) return undefined;
    const parent = this.dir(comps.slice(0, -1), create);
    if (!parent) return undefined;
    return { dir: this.abs(parent), name, real: [...parent, name] };
  }
}
