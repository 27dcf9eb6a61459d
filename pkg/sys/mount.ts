/**
 * Mounts. Node has no mount(2): changes go to the daemon's persistent mount helper (mount-server.ts, native
 * nsutil) when it is built, which makes the system call without a process per mount, else through util-linux
 * `mount`/`umount`; reads go straight to /proc/self/mountinfo. Paths given here are trusted host paths chosen by ucri, never raw user input:
 * callers that mount into a container rootfs must resolve symlinks inside the rootfs first.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errorMessage, InternalError, InvalidArgumentError, logger } from '../util/index.js';
import { commandError, describeCommand, run } from './spawn.js';
import { mountServer } from './mount-server.js';
import { nativeHelper } from './native.js';

const log = logger('sys/mount');

export interface MountPropagation {
  /** Peer group id when the mount is shared. */
  shared?: number;
  /** Peer group of the master when the mount is a slave. */
  master?: number;
  /** Nearest dominant peer group (only for slaves). */
  propagateFrom?: number;
  unbindable: boolean;
}

/** One line of /proc/<pid>/mountinfo (see proc(5)). */
export interface MountInfo {
  id: number;
  parentId: number;
  major: number;
  minor: number;
  /** Root of the mount inside its filesystem (a bind mount of a subdirectory shows that subdirectory). */
  root: string;
  mountPoint: string;
  /** Per-mount options (rw, nosuid, relatime, …). */
  options: string[];
  /** The raw optional fields (shared:N, master:N, propagate_from:N, unbindable). */
  optionalFields: string[];
  propagation: MountPropagation;
  fsType: string;
  source: string;
  /** Per-superblock options. */
  superOptions: string[];
}

/** Undoes the octal escapes the kernel applies to space, tab, newline and backslash in mountinfo paths. */
export function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** The kernel's escaping of a path in mountinfo: space, tab, newline and backslash as a backslash and 3 octal digits. */
export function escapeMountPath(s: string): string {
  return s.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

/**
 * Parses mountinfo text; malformed lines are rejected with InvalidArgumentError naming the line. With
 * `containing`, only the lines whose text contains it (a path as mountinfo escapes it, escapeMountPath) are
 * parsed, and only those are checked: a caller that looks for mounts at or below one path skips the parse of
 * every other line (the table holds every pod's and container's mounts; docs/performance.md, "Phase 11").
 * Every line naming that path as its mount point contains it, so nothing a caller keeps is lost.
 */
export function parseMountInfo(text: string, containing?: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (containing !== undefined && !line.includes(containing)) continue;
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    const [id, parent, devno, root, mountPoint, options] = fields;
    const fsType = fields[sep + 1];
    const source = fields[sep + 2];
    const superOptions = fields[sep + 3];
    const dev = devno?.split(':');
    if (
      sep < 0 ||
      id === undefined ||
      parent === undefined ||
      root === undefined ||
      mountPoint === undefined ||
      options === undefined ||
      dev?.length !== 2 ||
      fsType === undefined ||
      source === undefined
    ) {
      throw new InvalidArgumentError(`malformed mountinfo line "${line}"`);
    }
    const optionalFields = fields.slice(6, sep);
    const propagation: MountPropagation = { unbindable: false };
    for (const f of optionalFields) {
      const [k, v] = f.split(':');
      if (k === 'shared') propagation.shared = Number(v);
      else if (k === 'master') propagation.master = Number(v);
      else if (k === 'propagate_from') propagation.propagateFrom = Number(v);
      else if (k === 'unbindable') propagation.unbindable = true;
    }
    out.push({
      id: Number(id),
      parentId: Number(parent),
      major: Number(dev[0]),
      minor: Number(dev[1]),
      root: unescapeMountPath(root),
      mountPoint: unescapeMountPath(mountPoint),
      options: options.split(','),
      optionalFields,
      propagation,
      fsType,
      source: unescapeMountPath(source),
      superOptions: superOptions?.split(',') ?? [],
    });
  }
  return out;
}

/** The mount table of a process (default: ours); with `containing`, only the lines that contain it (parseMountInfo). */
export async function readMountInfo(pid: number | 'self' = 'self', containing?: string): Promise<MountInfo[]> {
  return parseMountInfo(await fs.readFile(`/proc/${pid}/mountinfo`, 'utf8'), containing);
}

/** True when `p` (made absolute, not resolved through symlinks) is the mount point of some mount. */
export async function isMountPoint(p: string): Promise<boolean> {
  const target = path.resolve(p);
  return (await readMountInfo('self', escapeMountPath(target))).some((m) => m.mountPoint === target);
}

/** Mounts at or below `dir`, deepest first (the order in which they can be unmounted). */
export async function mountsUnder(dir: string): Promise<MountInfo[]> {
  const base = path.resolve(dir);
  const prefix = base === '/' ? '/' : `${base}/`;
  const table = await readMountInfo('self', escapeMountPath(base));
  const found = table.filter((m) => m.mountPoint === base || m.mountPoint.startsWith(prefix));
  // Later lines are newer mounts; reverse creation order also unmounts stacked mounts on one point correctly.
  return found.sort((a, b) => depth(b.mountPoint) - depth(a.mountPoint) || b.id - a.id);
}

function depth(p: string): number {
  return p.split('/').length;
}

export interface MountOptions {
  /** Filesystem type (`-t`); omit for bind/remount/propagation changes. */
  fsType?: string;
  /** Comma-joined into `-o`. */
  options?: readonly string[];
  /** Working directory of `mount`, against which relative paths in options (overlay lowerdir) resolve. */
  cwd?: string;
  signal?: AbortSignal;
}

function checkOptionList(options: readonly string[]): void {
  for (const o of options) {
    if (o === '' || o.includes('\n')) throw new InvalidArgumentError(`invalid mount option "${o}"`);
  }
}

/** `mount [-t type] [-o opts] source target`. Rejects with InternalError carrying mount's message. */
export async function mount(source: string, target: string, opts: MountOptions = {}): Promise<void> {
  if (opts.options) checkOptionList(opts.options);
  const server = mountServer();
  const call = server ? syscallOf(opts) : undefined;
  if (server && call) {
    opts.signal?.throwIfAborted();
    const a = await server.call([
      'mount',
      source,
      target,
      opts.fsType ?? '',
      String(call.flags),
      call.data,
      opts.cwd ?? '',
    ]);
    if (a.errno === 0) return;
    throw new InternalError(
      `mount ${describeCommand(source, [target])}${opts.fsType ? ` (${opts.fsType})` : ''} failed: ${a.code} ${a.message}`,
    );
  }
  const args: string[] = ['--no-mtab'];
  if (opts.fsType) args.push('-t', opts.fsType);
  if (opts.options && opts.options.length > 0) args.push('-o', opts.options.join(','));
  // `--` keeps a source or target starting with '-' from being read as an option.
  args.push('--', source, target);
  await run('mount', args, { cwd: opts.cwd, signal: opts.signal });
}

/** mount(2) flags of the options mount(8) turns into flags; `false` clears them (rw, suid, …). */
const FLAG_OPTIONS: Record<string, [number, boolean]> = {
  ro: [0x1, true],
  rw: [0x1, false],
  nosuid: [0x2, true],
  suid: [0x2, false],
  nodev: [0x4, true],
  dev: [0x4, false],
  noexec: [0x8, true],
  exec: [0x8, false],
  sync: [0x10, true],
  async: [0x10, false],
  remount: [0x20, true],
  dirsync: [0x80, true],
  noatime: [0x400, true],
  atime: [0x400, false],
  nodiratime: [0x800, true],
  diratime: [0x800, false],
  bind: [0x1000, true],
  rbind: [0x1000 | 0x4000, true],
  silent: [0x8000, true],
  loud: [0x8000, false],
  relatime: [0x200000, true],
  norelatime: [0x200000, false],
  strictatime: [0x1000000, true],
  lazytime: [0x2000000, true],
  nolazytime: [0x2000000, false],
  defaults: [0, true],
};
const MS_REMOUNT = 0x20;
const MS_BIND = 0x1000;

/**
 * The one mount(2) call that mount(8) would make for these options, or undefined when mount(8) would do more
 * (a propagation option, which it applies as a second call; a bind with other flags, which it follows by a
 * remount; a remount, for which it merges the mount's current flags from mountinfo; a mount with neither type
 * nor bind, which it resolves from fstab): those still go through util-linux, so behaviour never differs.
 */
function syscallOf(opts: MountOptions): { flags: number; data: string } | undefined {
  let flags = 0;
  const data: string[] = [];
  for (const o of opts.options ?? []) {
    const f = FLAG_OPTIONS[o];
    if (f) flags = f[1] ? flags | f[0] : flags & ~f[0];
    else if (/^r?(shared|slave|private|unbindable)$/.test(o) || o.startsWith('x-') || o.includes('\0'))
      return undefined;
    else data.push(o);
  }
  if (flags & MS_REMOUNT) return undefined;
  if (flags & MS_BIND && (flags & ~(MS_BIND | 0x4000) || data.length > 0)) return undefined;
  if (!opts.fsType && !(flags & MS_BIND)) return undefined;
  return { flags, data: data.join(',') };
}

export interface BindOptions {
  /** rbind: also bind the mounts below `source` (default false). */
  recursive?: boolean;
  /** Remount read-only after binding (a bind cannot be made read-only in one step). */
  readOnly?: boolean;
  signal?: AbortSignal;
}

/** Bind-mounts `source` on `target` (which must exist), optionally recursive and read-only. */
export async function bindMount(source: string, target: string, opts: BindOptions = {}): Promise<void> {
  await mount(source, target, { options: [opts.recursive ? 'rbind' : 'bind'], signal: opts.signal });
  if (opts.readOnly) {
    try {
      await mount('none', target, { options: ['remount', 'bind', 'ro'], signal: opts.signal });
    } catch (err) {
      await unmount(target, { lazy: true }).catch(() => {});
      throw err;
    }
  }
}

export type Propagation = 'shared' | 'slave' | 'private' | 'unbindable';

/** Changes the propagation type of the mount at `target` (with `recursive`, of every mount below too). */
export async function setPropagation(
  target: string,
  kind: Propagation,
  opts: { recursive?: boolean; signal?: AbortSignal } = {},
): Promise<void> {
  const server = mountServer();
  if (server) {
    opts.signal?.throwIfAborted();
    const bits = { shared: 0x100000, slave: 0x80000, private: 0x40000, unbindable: 0x20000 }[kind];
    const a = await server.call(['mount', 'none', target, '', String(bits | (opts.recursive ? 0x4000 : 0)), '', '']);
    if (a.errno === 0) return;
    throw new InternalError(`making ${describeCommand(target, [])} ${kind} failed: ${a.code} ${a.message}`);
  }
  const flag = `--make-${opts.recursive ? 'r' : ''}${kind}`;
  await run('mount', ['--no-mtab', flag, '--', target], { signal: opts.signal });
}

/**
 * Makes `dir` a mount point of its own (a bind mount onto itself) if it is not one yet, then sets its
 * propagation. The usual way to give a directory its own propagation, e.g. a private home for nsfs pins.
 */
export async function ensureSelfBind(
  dir: string,
  kind: Propagation,
  opts: { signal?: AbortSignal } = {},
): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  if (!(await isMountPoint(dir))) await bindMount(dir, dir, { signal: opts.signal });
  await setPropagation(dir, kind, { signal: opts.signal });
}

export interface UnmountOptions {
  /** MNT_DETACH: detach now, free when no longer busy. */
  lazy?: boolean;
  /** Succeed quietly when nothing is mounted at `target` (default true). */
  ignoreNotMounted?: boolean;
  signal?: AbortSignal;
}

/** Unmounts `target`. By default a target that is not mounted (or does not exist) is not an error. */
export async function unmount(target: string, opts: UnmountOptions = {}): Promise<void> {
  const server = mountServer();
  if (server) {
    opts.signal?.throwIfAborted();
    const MNT_DETACH = 0x2;
    const a = await server.call(['umount', path.resolve(target), String(opts.lazy ? MNT_DETACH : 0)]).catch(
      // The helper died: unmounting is idempotent, so the util-linux path below is a safe retry.
      (err: unknown) => {
        log.warn({ target, err: String(err) }, 'mount helper unavailable; unmounting with a process');
        return undefined;
      },
    );
    if (a) {
      if (a.errno === 0) return;
      const notMounted = a.code === 'EINVAL' || a.code === 'ENOENT';
      if (notMounted && (opts.ignoreNotMounted ?? true)) return;
      throw new InternalError(`umount ${describeCommand(target, [])} failed: ${a.code} ${a.message}`);
    }
  }
  const nsutil = nativeHelper('nsutil');
  if (nsutil && (opts.ignoreNotMounted ?? true)) {
    // umount2(2) in a small helper (native/nsutil.c) rather than util-linux umount, which parses mountinfo.
    await run(nsutil, ['unmount', ...(opts.lazy ? ['--lazy'] : []), '--once', target], { signal: opts.signal });
    return;
  }
  const args = ['--no-mtab'];
  if (opts.lazy) args.push('--lazy');
  args.push('--', target);
  const r = await run('umount', args, { signal: opts.signal, allowFailure: true });
  if (r.code === 0) return;
  const notMounted = /not mounted|no mount point specified|No such file or directory/i.test(r.stderr);
  if (notMounted && (opts.ignoreNotMounted ?? true)) return;
  throw commandError(r);
}

/**
 * Unmounts `target` lazily until nothing is mounted there any more (a pin over-mounted by a retried create),
 * at most 8 times. Absent or not mounted is fine.
 */
export async function unmountUntilBare(target: string, signal?: AbortSignal): Promise<void> {
  const server = mountServer();
  for (let i = 0; i < 8; i++) {
    if (server) {
      signal?.throwIfAborted();
      const a = await server.call(['umount', path.resolve(target), '2']);
      if (a.code === 'EINVAL' || a.code === 'ENOENT') return;
      if (a.errno !== 0)
        throw new InternalError(`umount ${describeCommand(target, [])} failed: ${a.code} ${a.message}`);
    } else {
      if (!(await isMountPoint(target))) return;
      await unmount(target, { lazy: true, signal });
    }
  }
}

/**
 * Unmounts everything mounted at or below `dir`, deepest first, including `dir` itself if it is a mount
 * point. Returns the mount points it unmounted. With `lazy` every unmount is MNT_DETACH.
 */
export async function unmountAllUnder(dir: string, opts: { lazy?: boolean; signal?: AbortSignal } = {}) {
  return (await unmountPasses(dir, opts)).done;
}

/** unmountAllUnder's passes; `left` is what the last read of the mount table still found (empty on success). */
async function unmountPasses(
  dir: string,
  opts: { lazy?: boolean; signal?: AbortSignal },
): Promise<{ done: string[]; left: MountInfo[] }> {
  const done: string[] = [];
  let mounts: MountInfo[] = [];
  // Re-read after each pass: an unmount can reveal an over-mounted mount at the same point.
  for (let pass = 0; pass < 64; pass++) {
    mounts = await mountsUnder(dir);
    if (mounts.length === 0) return { done, left: mounts };
    for (const m of mounts) {
      await unmount(m.mountPoint, { lazy: opts.lazy, signal: opts.signal });
      done.push(m.mountPoint);
    }
  }
  log.warn({ dir }, 'mounts keep reappearing under directory');
  return { done, left: await mountsUnder(dir) };
}

/**
 * What must hold before `dir` is removed recursively: everything mounted at or below it unmounted (lazily
 * when a plain unmount fails), else InternalError naming what remains. The check is the last read of the
 * mount table that the unmount passes made anyway, not one more (each read is a file read and a parse of
 * the whole table).
 */
export async function clearMountsUnder(dir: string, signal?: AbortSignal): Promise<void> {
  let left: MountInfo[];
  try {
    left = (await unmountPasses(dir, { signal })).left;
  } catch (err) {
    log.warn({ dir, err: errorMessage(err) }, 'unmount failed; detaching lazily');
    left = (await unmountPasses(dir, { lazy: true, signal })).left;
  }
  if (left.length > 0) {
    throw new InternalError(`mounts remain under "${dir}" (${left.map((m) => m.mountPoint).join(', ')})`);
  }
}

/** The kernel copies mount data into one page; stay well below it. */
const MAX_MOUNT_DATA = 4096 - 256;

export interface OverlayOptions {
  /** Lower layers, TOP FIRST (as overlayfs lists them). At least one; two when there is no upper dir. */
  lowerDirs: readonly string[];
  /** Writable layer; omit for a read-only overlay. Requires `workDir` on the same filesystem. */
  upperDir?: string;
  workDir?: string;
  /** Extra overlay options (e.g. "index=off", "userxattr"). */
  extraOptions?: readonly string[];
  /** Where short symlinks to the lower dirs are made when the option string is too long (default: tmp). */
  linkDir?: string;
  signal?: AbortSignal;
}

const OVERLAY_SPECIAL = /[,:\\\s]/;

/**
 * Mounts an overlay at `target`. When the lowerdir list would not fit in one page of mount data (many
 * layers, long paths) or a path holds a character that overlay options cannot carry, the layers are
 * reached through short numbered symlinks in a scratch directory used as mount's cwd, the way Mesos does;
 * the links are removed once the kernel has resolved them.
 */
export async function overlayMount(target: string, opts: OverlayOptions): Promise<void> {
  const lowers = opts.lowerDirs.map((d) => path.resolve(d));
  if (lowers.length === 0) throw new InvalidArgumentError('overlay needs at least one lower dir');
  if (!opts.upperDir && lowers.length < 2) {
    throw new InvalidArgumentError('a read-only overlay needs at least two lower dirs');
  }
  if ((opts.upperDir === undefined) !== (opts.workDir === undefined)) {
    throw new InvalidArgumentError('overlay upper dir and work dir go together');
  }
  const tail: string[] = [];
  for (const [k, v] of [
    ['upperdir', opts.upperDir],
    ['workdir', opts.workDir],
  ] as const) {
    if (v === undefined) continue;
    const abs = path.resolve(v);
    if (OVERLAY_SPECIAL.test(abs)) throw new InvalidArgumentError(`overlay ${k} "${abs}" has a reserved character`);
    tail.push(`${k}=${abs}`);
  }
  tail.push(...(opts.extraOptions ?? []));

  const direct = ['lowerdir=' + lowers.join(':'), ...tail];
  if (direct.join(',').length <= MAX_MOUNT_DATA && !lowers.some((l) => OVERLAY_SPECIAL.test(l))) {
    await mount('overlay', target, { fsType: 'overlay', options: direct, signal: opts.signal });
    return;
  }
  const base = opts.linkDir ?? os.tmpdir();
  await fs.mkdir(base, { recursive: true });
  const links = await fs.mkdtemp(path.join(base, 'ovl-'));
  try {
    await Promise.all(lowers.map((l, i) => fs.symlink(l, path.join(links, String(i)))));
    const short = ['lowerdir=' + lowers.map((_l, i) => String(i)).join(':'), ...tail];
    if (short.join(',').length > MAX_MOUNT_DATA) {
      throw new InvalidArgumentError(`overlay of ${lowers.length} layers does not fit in the mount data page`);
    }
    await mount('overlay', target, { fsType: 'overlay', options: short, cwd: links, signal: opts.signal });
  } finally {
    await fs.rm(links, { recursive: true, force: true });
  }
}
