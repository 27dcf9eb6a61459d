/**
 * Applies one layer tar to a directory, faithfully and without ever writing outside it.
 *
 * Faithful: regular files, directories, symlinks, hardlinks, char/block devices and fifos; numeric owners
 * (names are ignored, as in Docker); modes including setuid/setgid/sticky (chmod after chown, which clears
 * them); mtimes, with directory mtimes set last, after their contents; xattrs from PAX headers, file
 * capabilities included (set after chown, which drops them). Whiteouts follow `format`:
 *   - 'plain' (copy backend, layers applied onto one directory): `.wh.x` removes x; `.wh..wh..opq` empties
 *     the directory of everything this layer did not itself create;
 *   - 'overlay' (one directory per layer, stacked by overlayfs): `.wh.x` becomes a 0/0 char device and
 *     `.wh..wh..opq` the xattr trusted.overlay.opaque=y on its directory.
 * Safe: names are cleaned and `..` above the root is rejected; parents resolve inside the root, following
 * symlinks as a chroot would (root.ts); the final component is never followed (O_EXCL|O_NOFOLLOW, lchown,
 * lutimes, link(2) which does not follow); hardlink targets must resolve inside the root. Layer-supplied
 * `trusted.overlay.*` xattrs are dropped: that namespace is overlayfs's own and only this code may set it.
 *
 * System calls are synchronous (see root.ts): each blocks the event loop for microseconds, and applying
 * thousands of small files through the thread pool would be several times slower.
 *
 * On failure the directory is left partly written: apply into a staging directory and remove it on error.
 */
import fs, { constants } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidArgumentError, fromAbort } from '../../util/index.js';
import { DigestVerifier } from '../digest.js';
import { type Compression, decompress } from './decompress.js';
import { ENOTSUP, NodeHelper, SyscallError } from './helper.js';
import { entryComponents, LayerRoot } from './root.js';
import { createExtract, paxNumber, paxXattrs, type TarEntry, type TarHeader } from './tar.js';

export type LayerFormat = 'overlay' | 'plain';

export interface ApplyOptions {
  format: LayerFormat;
  signal?: AbortSignal;
  /** Expected sha256 of the uncompressed tar (the config's diff_id); a mismatch fails the apply. */
  diffId?: string;
}

export interface ApplyResult {
  /** sha256 of the uncompressed tar stream, to compare with the image config's diff_ids. */
  diffId: string;
  /** Bytes of the uncompressed tar stream. */
  size: number;
  compression: Compression;
  /** Number of tar entries applied (whiteouts included). */
  entries: number;
  /**
   * The first PAX xattr skipped because the target filesystem does not support it (ENOTSUP), for the caller to
   * log: applyLayer logs nothing itself, so that the layer worker's thread loads no logger (its start-up is on
   * a cold pull's critical path: docs/performance.md, "PullImage cold start, phase 8").
   */
  skippedXattr?: { name: string; entry: string };
}

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const OPAQUE = '.wh..wh..opq';
const WHITEOUT = '.wh.';
const CREATE_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

interface Meta {
  uid: number;
  gid: number;
  mode: number;
  atime: number;
  mtime: number;
}

function meta(h: TarHeader): Meta {
  const mtime = paxNumber(h, 'mtime') ?? (h.mtime ? h.mtime.getTime() / 1000 : 0);
  return {
    uid: paxNumber(h, 'uid') ?? h.uid ?? 0,
    gid: paxNumber(h, 'gid') ?? h.gid ?? 0,
    mode: (h.mode ?? 0o644) & 0o7777,
    atime: paxNumber(h, 'atime') ?? mtime,
    mtime,
  };
}

function lstatOrUndefined(p: string): fs.Stats | undefined {
  return fs.lstatSync(p, { throwIfNoEntry: false });
}

async function drain(entry: TarEntry): Promise<void> {
  for await (const _ of entry) {
    // content of non-file entries is ignored
  }
}

class Applier {
  entries = 0;
  private readonly dirTimes: Array<[string, number, number]> = [];
  /** Paths this layer created; an opaque marker in 'plain' format keeps them. */
  private readonly created = new Set<string>();
  skippedXattr: { name: string; entry: string } | undefined;

  constructor(
    private readonly root: LayerRoot,
    private readonly format: LayerFormat,
    private readonly helper: NodeHelper,
  ) {}

  async apply(entry: TarEntry): Promise<void> {
    const h = entry.header as unknown as TarHeader;
    this.entries++;
    const comps = entryComponents(h.name);
    const base = comps[comps.length - 1];
    if (base?.startsWith(WHITEOUT)) {
      await drain(entry);
      return this.whiteout(h, comps, base);
    }
    switch (h.type) {
      case 'file':
      case 'contiguous-file':
        return this.file(entry, h, comps);
      case 'directory':
        await drain(entry);
        return this.directory(h, comps);
      case 'symlink':
        await drain(entry);
        return this.symlink(h, comps);
      case 'link':
        await drain(entry);
        return this.hardlink(h, comps);
      case 'character-device':
      case 'block-device':
      case 'fifo':
        await drain(entry);
        return this.node(h, comps);
      default:
        throw new InvalidArgumentError(`layer entry "${h.name}" has an unsupported type "${h.type ?? 'unknown'}"`);
    }
  }

  /** Sets directory mtimes now that nothing more is written into them. */
  finish(): void {
    for (const [p, atime, mtime] of this.dirTimes) {
      // lutimes: if a later entry replaced the directory by a symlink, never touch what it points to.
      try {
        fs.lutimesSync(p, atime, mtime);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }

  /**
   * Resolves an entry's location and clears the way: an existing directory is kept only when a directory
   * is being written; anything else there is removed (without following it).
   */
  private prepare(h: TarHeader, comps: string[], keepDir: boolean): { abs: string; isDir: boolean } {
    const loc = this.root.parentOf(comps, true);
    if (!loc) throw new InvalidArgumentError(`layer entry "${h.name}" of type "${h.type}" names the root`);
    const abs = path.join(loc.dir, loc.name);
    const st = lstatOrUndefined(abs);
    if (st) {
      if (keepDir && st.isDirectory()) return { abs, isDir: true };
      fs.rmSync(abs, { recursive: true, force: true });
      if (st.isDirectory() || st.isSymbolicLink()) this.root.forget();
    }
    this.created.add(abs);
    return { abs, isDir: false };
  }

  private async file(entry: TarEntry, h: TarHeader, comps: string[]): Promise<void> {
    const { abs } = this.prepare(h, comps, false);
    const m = meta(h);
    const fd = fs.openSync(abs, CREATE_FILE, 0o600);
    try {
      for await (const chunk of entry) {
        let off = 0;
        while (off < chunk.length) off += fs.writeSync(fd, chunk, off);
      }
      fs.fchownSync(fd, m.uid, m.gid);
      fs.fchmodSync(fd, m.mode);
      await this.xattrs(h, abs);
      fs.futimesSync(fd, m.atime, m.mtime);
    } finally {
      fs.closeSync(fd);
    }
  }

  private async directory(h: TarHeader, comps: string[]): Promise<void> {
    const m = meta(h);
    let abs = this.root.root;
    if (comps.length > 0) {
      const prepared = this.prepare(h, comps, true);
      abs = prepared.abs;
      if (!prepared.isDir) fs.mkdirSync(abs, { mode: 0o700 });
    }
    fs.lchownSync(abs, m.uid, m.gid);
    fs.chmodSync(abs, m.mode);
    await this.xattrs(h, abs);
    this.dirTimes.push([abs, m.atime, m.mtime]);
  }

  private async symlink(h: TarHeader, comps: string[]): Promise<void> {
    if (!h.linkname) throw new InvalidArgumentError(`symlink "${h.name}" has no target`);
    const { abs } = this.prepare(h, comps, false);
    const m = meta(h);
    // The target is stored as written: it is only ever followed inside the container's root (or, by us,
    // through LayerRoot, which confines it).
    fs.symlinkSync(h.linkname, abs);
    fs.lchownSync(abs, m.uid, m.gid);
    await this.xattrs(h, abs);
    fs.lutimesSync(abs, m.atime, m.mtime);
  }

  private async hardlink(h: TarHeader, comps: string[]): Promise<void> {
    const linkname = h.linkname ?? '';
    const targetComps = entryComponents(linkname);
    const target = this.root.parentOf(targetComps, false);
    const targetAbs = target ? path.join(target.dir, target.name) : undefined;
    const st = targetAbs ? lstatOrUndefined(targetAbs) : undefined;
    if (!targetAbs || !st) {
      throw new InvalidArgumentError(`hardlink "${h.name}" points to "${linkname}", which is not in the layer`);
    }
    if (st.isDirectory()) throw new InvalidArgumentError(`hardlink "${h.name}" points to directory "${linkname}"`);
    const loc = this.root.parentOf(comps, true);
    if (loc && path.join(loc.dir, loc.name) === targetAbs) return;
    const { abs } = this.prepare(h, comps, false);
    // link(2) does not follow a symlink target: a link to a symlink links the symlink itself.
    fs.linkSync(targetAbs, abs);
  }

  private async node(h: TarHeader, comps: string[]): Promise<void> {
    const { abs } = this.prepare(h, comps, false);
    const m = meta(h);
    const type = h.type === 'character-device' ? S_IFCHR : h.type === 'block-device' ? S_IFBLK : S_IFIFO;
    await this.helper.mknod(abs, type | m.mode, h.devmajor ?? 0, h.devminor ?? 0);
    fs.lchownSync(abs, m.uid, m.gid);
    fs.chmodSync(abs, m.mode);
    await this.xattrs(h, abs);
    fs.lutimesSync(abs, m.atime, m.mtime);
  }

  private async whiteout(h: TarHeader, comps: string[], base: string): Promise<void> {
    const parent = comps.slice(0, -1);
    if (base === OPAQUE) return this.opaque(parent);
    if (base.startsWith(`${WHITEOUT}${WHITEOUT}`)) return; // aufs bookkeeping (.wh..wh.plnk …): not content
    const name = base.slice(WHITEOUT.length);
    if (name === '' || name === '.' || name === '..') throw new InvalidArgumentError(`invalid whiteout "${h.name}"`);
    if (this.format === 'plain') {
      const dir = this.root.dir(parent, false);
      if (!dir) return;
      const abs = path.join(this.root.abs(dir), name);
      if (this.created.has(abs)) return;
      fs.rmSync(abs, { recursive: true, force: true });
      this.root.forget();
      return;
    }
    const { abs } = this.prepare(h, [...parent, name], false);
    const m = meta(h);
    await this.helper.mknod(abs, S_IFCHR, 0, 0);
    fs.lchownSync(abs, m.uid, m.gid);
  }

  private async opaque(parent: string[]): Promise<void> {
    const dir = this.root.abs(this.root.dir(parent, true) ?? []);
    if (this.format === 'overlay') {
      await this.helper.lsetxattr(dir, 'trusted.overlay.opaque', Buffer.from('y'));
      return;
    }
    for (const name of fs.readdirSync(dir)) {
      const abs = path.join(dir, name);
      if (!this.created.has(abs)) fs.rmSync(abs, { recursive: true, force: true });
    }
    this.root.forget();
  }

  private async xattrs(h: TarHeader, abs: string): Promise<void> {
    for (const [name, value] of paxXattrs(h)) {
      if (name.startsWith('trusted.overlay.')) continue;
      try {
        await this.helper.lsetxattr(abs, name, value);
      } catch (err) {
        if (!(err instanceof SyscallError) || err.errno !== ENOTSUP) {
          throw new InvalidArgumentError(`cannot set xattr "${name}" on "${h.name}": ${(err as Error).message}`, {
            cause: err,
          });
        }
        this.skippedXattr ??= { name, entry: h.name };
      }
    }
  }
}

/**
 * Decompresses (gzip, zstd or none, by magic bytes) and applies a layer to `targetDir`, which must exist.
 * Returns the diff digest of the uncompressed tar. Hostile entries (escaping names, unsupported types,
 * hardlinks to missing targets) fail with InvalidArgumentError; a diffId mismatch with DigestMismatchError;
 * an abort with the matching domain error.
 */
export async function applyLayer(input: Readable, targetDir: string, opts: ApplyOptions): Promise<ApplyResult> {
  const { signal } = opts;
  signal?.throwIfAborted();
  const rootPath = await fs.promises.realpath(targetDir);
  if (!(await fs.promises.stat(rootPath)).isDirectory())
    throw new InvalidArgumentError(`"${targetDir}" is not a directory`);
  const helper = new NodeHelper(signal);
  const applier = new Applier(new LayerRoot(rootPath), opts.format, helper);
  try {
    const { stream, compression } = await decompress(input, signal);
    const tar = new DigestVerifier('layer tar', opts.diffId === undefined ? {} : { digest: opts.diffId });
    const extract = createExtract();
    const piping = pipeline(stream, tar, extract, signal ? { signal } : {});
    const applying = (async () => {
      for await (const entry of extract) await applier.apply(entry as unknown as TarEntry);
    })();
    const [piped, applied] = await Promise.allSettled([piping, applying]);
    // The applier's own error explains more than the premature close it causes in the pipeline.
    if (applied.status === 'rejected') throw applied.reason;
    if (piped.status === 'rejected') throw piped.reason;
    await helper.close();
    applier.finish();
    const result = tar.result!;
    const r: ApplyResult = { diffId: result.digest, size: result.size, compression, entries: applier.entries };
    if (applier.skippedXattr) r.skippedXattr = applier.skippedXattr;
    return r;
  } catch (err) {
    input.destroy();
    throw fromAbort(err, signal);
  } finally {
    await helper.close();
  }
}
