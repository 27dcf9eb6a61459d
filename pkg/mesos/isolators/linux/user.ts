/**
 * Users and groups as the container sees them: /etc/passwd and /etc/group read from inside the container's
 * rootfs. The rootfs is untrusted image content, so every path is resolved the way the kernel would inside a
 * chroot (absolute symlinks and `..` stay below the rootfs) before anything is opened, and the final file is
 * opened with O_NOFOLLOW. No process runs in the rootfs yet when this is called (prepare), so nothing can
 * swap a component between resolution and open.
 */
import { constants, promises as fs } from 'node:fs';
import { resolveInRoot } from '../../../sys/index.js';
import { FailedPreconditionError, InvalidArgumentError, LruMap } from '../../../util/index.js';

/** passwd/group files bigger than this are not believed (a hostile image could make them huge). */
const MAX_FILE = 4 * 1024 * 1024;

/** Reads a small regular file inside `root` safely; undefined when it does not exist. */
export async function readFileInRoot(root: string, p: string): Promise<string | undefined> {
  const host = await resolveInRoot(root, p);
  if (host === undefined) return undefined;
  // Check the type before opening: opening a device node or FIFO the image planted can have side effects.
  if (!(await fs.lstat(host)).isFile()) {
    throw new FailedPreconditionError(`"${p}" in the container rootfs is not a regular file`);
  }
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new FailedPreconditionError(`"${p}" in the container rootfs is not a regular file`);
    if (st.size > MAX_FILE) throw new FailedPreconditionError(`"${p}" in the container rootfs is too large`);
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const ID_RE = /^\d{1,10}$/;

function parseId(s: string | undefined): number | undefined {
  if (s === undefined || !ID_RE.test(s)) return undefined;
  const n = Number(s);
  return n <= 0xfffffffe ? n : undefined;
}

/** Parses /etc/passwd; malformed lines are skipped, as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const uid = parseId(f[2]);
    const gid = parseId(f[3]);
    if (f.length < 4 || !f[0] || uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid, home: f[5] ?? '' });
  }
  return out;
}

/** Parses /etc/group; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const gid = parseId(f[2]);
    if (f.length < 3 || !f[0] || gid === undefined) continue;
    out.push({ name: f[0], gid, members: (f[3] ?? '').split(',').filter((m) => m !== '') });
  }
  return out;
}

/** What to resolve: the CRI security context's fields, then the image USER. */
export interface UserRequest {
  runAsUser: number | undefined;
  runAsGroup: number | undefined;
  runAsUsername: string;
  supplementalGroups: number[];
  /** The image USER: `""`, `uid`, `name`, `uid:gid`, `name:group`. */
  imageUser: string;
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** Name from /etc/passwd when the uid has one. */
  name?: string;
}

function checkId(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xfffffffe) throw new InvalidArgumentError(`invalid ${what} ${n}`);
  return n;
}

/** Files bigger than this are read again for every container rather than kept (bounds the cache's memory). */
const MAX_CACHED_FILE = 64 * 1024;

/**
 * /etc/passwd and /etc/group of image rootfses, kept per rootfs content key (containers.ts `rootfsKey`: the
 * image id, backend and layer dirs of a rootfs provisioned just now from immutable store layers, nothing
 * written to it yet). Containers of one image then read them once instead of once each (two path
 * resolutions and reads through the overlay per container, docs/performance.md "CreateContainer, phase 6").
 * Without a key (a restored checkpoint wrote into the rootfs) nothing is cached. Only successful reads are
 * kept (an absent file as such); a refusal (not a regular file, too large) is thrown again each time.
 */
export class RootfsFileCache {
  private readonly entries: LruMap<string, Map<string, string | undefined>>;

  constructor(maxKeys = 32) {
    this.entries = new LruMap(maxKeys);
  }

  /**
   * readFileInRoot(root, p), answered from the cache under `key` when there is one; `beforeRead` runs before
   * the rootfs is read (a cache miss or no key), e.g. to mount it.
   */
  async read(
    root: string,
    p: string,
    key: string | undefined,
    beforeRead?: () => Promise<void>,
  ): Promise<string | undefined> {
    if (key === undefined) {
      await beforeRead?.();
      return readFileInRoot(root, p);
    }
    const files = this.entries.peek(key);
    if (files?.has(p)) {
      // A use: eviction drops the image unused longest.
      this.entries.set(key, files);
      return files.get(p);
    }
    await beforeRead?.();
    const text = await readFileInRoot(root, p);
    if (text !== undefined && text.length > MAX_CACHED_FILE) return text;
    const now = this.entries.peek(key) ?? new Map<string, string | undefined>();
    now.set(p, text);
    this.entries.set(key, now);
    return text;
  }

  /** Number of keys held (tests). */
  get size(): number {
    return this.entries.size;
  }
}

/** Where resolveUser reads the rootfs's files from: `cache` under `key`, else the rootfs each time. */
export interface UserFiles {
  cache: RootfsFileCache;
  key: string | undefined;
  /** Runs before the rootfs itself is read (mounts a rootfs that is not mounted yet). */
  beforeRead?: () => Promise<void>;
}

/**
 * Resolves the container's uid, gid and supplementary groups against the rootfs's /etc/passwd and
 * /etc/group, with containerd's rules: a numeric uid without a passwd entry runs with gid 0; a name that
 * is not in passwd (or a group name not in group) is a FailedPreconditionError naming it; run_as_group
 * overrides the gid; supplementary groups are the groups that list the user as a member, then the CRI ones.
 */
export async function resolveUser(rootfs: string, req: UserRequest, files?: UserFiles): Promise<ResolvedUser> {
  let passwd: PasswdEntry[] | undefined;
  let groups: GroupEntry[] | undefined;
  const read = (p: string): Promise<string | undefined> =>
    files ? files.cache.read(rootfs, p, files.key, files.beforeRead) : readFileInRoot(rootfs, p);
  const users = async (): Promise<PasswdEntry[]> => {
    passwd ??= parsePasswd((await read('/etc/passwd')) ?? '');
    return passwd;
  };
  const groupList = async (): Promise<GroupEntry[]> => {
    groups ??= parseGroup((await read('/etc/group')) ?? '');
    return groups;
  };
  const byName = async (name: string): Promise<PasswdEntry> => {
    const e = (await users()).find((u) => u.name === name);
    if (!e) throw new FailedPreconditionError(`user "${name}" not found in the image's /etc/passwd`);
    return e;
  };

  let entry: PasswdEntry | undefined;
  let uid: number;
  let gid: number | undefined;
  if (req.runAsUser !== undefined) {
    uid = checkId(req.runAsUser, 'run_as_user');
    entry = (await users()).find((u) => u.uid === uid);
  } else if (req.runAsUsername !== '') {
    entry = await byName(req.runAsUsername);
    uid = entry.uid;
  } else {
    const spec = req.imageUser.trim();
    const [userPart = '', groupPart] = spec.split(':', 2);
    if (userPart === '' || ID_RE.test(userPart)) {
      uid = userPart === '' ? 0 : (parseId(userPart) ?? checkId(Number(userPart), 'image user id'));
      entry = (await users()).find((u) => u.uid === uid);
    } else {
      entry = await byName(userPart);
      uid = entry.uid;
    }
    if (groupPart !== undefined && groupPart !== '') {
      if (ID_RE.test(groupPart)) gid = checkId(Number(groupPart), 'image group id');
      else {
        const g = (await groupList()).find((x) => x.name === groupPart);
        if (!g) throw new FailedPreconditionError(`group "${groupPart}" not found in the image's /etc/group`);
        gid = g.gid;
      }
    }
  }
  if (req.runAsGroup !== undefined) gid = checkId(req.runAsGroup, 'run_as_group');
  gid ??= entry?.gid ?? 0;

  const extra: number[] = [];
  if (entry) for (const g of await groupList()) if (g.members.includes(entry.name)) extra.push(g.gid);
  for (const g of req.supplementalGroups) extra.push(checkId(g, 'supplemental group'));
  const additionalGids = [...new Set(extra)];
  return entry ? { uid, gid, additionalGids, name: entry.name } : { uid, gid, additionalGids };
}
