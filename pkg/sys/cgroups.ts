/**
 * Control groups through cgroupfs: v1 (one hierarchy per controller), hybrid (v1 controllers plus an empty
 * cgroup2 tree at /sys/fs/cgroup/unified) and v2 (one unified tree). A cgroup is named by a relative path
 * such as `ucri/<id>`, the same under every hierarchy, like an OCI `cgroupsPath` with the cgroupfs driver.
 *
 * Nothing here follows user-chosen paths: a cgroup path is validated (relative, no `..`, no empty segments)
 * before it is joined to a hierarchy root.
 *
 * What reads cgroupfs (a control file, a cgroup's directory listing, whether a cgroup exists) is done on the
 * event loop: the kernel makes the answer on the call, without disk I/O and without cgroup_mutex, in tens of
 * µs, where fs.promises.readFile costs four thread-pool round trips (docs/performance.md, "Phase 11" and
 * "Cgroups, phase 14"). What changes cgroupfs stays in the thread pool: mkdir and rmdir take cgroup_mutex,
 * which a concurrent move of a process into a cgroup (a runtime writing cgroup.procs) may hold for an RCU
 * grace period, and a write to a limit may reclaim memory.
 */
import { existsSync, promises as fs, readdirSync, readFileSync } from 'node:fs';
import {
  DeadlineExceededError,
  FailedPreconditionError,
  fromAbort,
  InvalidArgumentError,
  joinPath,
  settleAll,
} from '../util/index.js';
import { type MountInfo, readMountInfo } from './mount.js';
import { sleep } from './proc.js';

export type CgroupMode = 'v1' | 'hybrid' | 'v2';
export type CgroupDriver = 'systemd' | 'cgroupfs';

export interface CgroupLayout {
  mode: CgroupMode;
  /** v1 controller → mount point of its hierarchy (co-mounted controllers share one). */
  v1: ReadonlyMap<string, string>;
  /** Mount point of cgroup2 (the whole tree in v2 mode, the controller-less tree in hybrid mode). */
  unified?: string;
}

/** The v1 controllers ucri manages, in creation order (cpuset first so its files are seeded early). */
export const V1_CONTROLLERS = ['cpuset', 'cpu', 'cpuacct', 'memory', 'pids', 'freezer', 'devices', 'blkio', 'hugetlb'];
const KNOWN_V1 = new Set([...V1_CONTROLLERS, 'net_cls', 'net_prio', 'perf_event', 'rdma', 'misc', 'name=systemd']);
/** v2 controllers ucri enables for its subtree when the parent offers them. */
const V2_CONTROLLERS = ['cpuset', 'cpu', 'io', 'memory', 'pids', 'hugetlb'];

/** Derives the cgroup layout from a mount table (pure; see detectCgroups). */
export function layoutFromMounts(mounts: readonly MountInfo[]): CgroupLayout {
  const v1 = new Map<string, string>();
  let unified: string | undefined;
  for (const m of mounts) {
    if (m.fsType === 'cgroup2') {
      // Prefer the conventional location when cgroup2 is mounted more than once.
      if (unified === undefined || m.mountPoint === '/sys/fs/cgroup') unified = m.mountPoint;
    } else if (m.fsType === 'cgroup') {
      for (const opt of m.superOptions) if (KNOWN_V1.has(opt) && !v1.has(opt)) v1.set(opt, m.mountPoint);
    }
  }
  const mode: CgroupMode = v1.size === 0 ? 'v2' : unified !== undefined ? 'hybrid' : 'v1';
  if (mode === 'v2' && unified === undefined) return { mode: 'v1', v1 };
  return { mode, v1, unified };
}

let cachedLayout: CgroupLayout | undefined;

/** The host's cgroup layout, read from /proc/self/mountinfo once (pass `refresh` to re-read). */
export async function detectCgroups(refresh = false): Promise<CgroupLayout> {
  if (!cachedLayout || refresh) cachedLayout = layoutFromMounts(await readMountInfo());
  return cachedLayout;
}

/** `systemd` when systemd is the init system (it then owns the cgroup tree), else `cgroupfs`. */
export async function detectCgroupDriver(): Promise<CgroupDriver> {
  try {
    await fs.access('/run/systemd/system');
    return 'systemd';
  } catch {
    return 'cgroupfs';
  }
}

/** Validates and normalizes a relative cgroup path (`a/b`); rejects absolute paths, `..` and odd names. */
export function validateCgroupPath(p: string): string {
  const trimmed = p.replace(/^\/+/, '');
  const parts = trimmed.split('/');
  if (trimmed === '' || parts.some((s) => s === '' || s === '.' || s === '..' || !/^[\w.:@-]+$/.test(s))) {
    throw new InvalidArgumentError(`invalid cgroup path "${p}"`);
  }
  return parts.join('/');
}

/** Every directory that holds cgroup `p` (v1: one per distinct hierarchy, plus unified in hybrid mode). */
export async function cgroupDirs(p: string): Promise<string[]> {
  const rel = validateCgroupPath(p);
  const l = await detectCgroups();
  const roots = new Set<string>();
  if (l.mode === 'v2') {
    if (l.unified) roots.add(l.unified);
  } else {
    // Every mounted hierarchy, named ones (name=systemd) included: runc creates the cgroup in all of them.
    for (const m of l.v1.values()) roots.add(m);
    if (l.mode === 'hybrid' && l.unified) roots.add(l.unified);
  }
  return [...roots].map((r) => joinPath(r, rel));
}

/** Directory of cgroup `p` for one v1 controller, or the unified one in v2 mode; undefined if not mounted. */
export async function controllerDir(p: string, controller: string): Promise<string | undefined> {
  const rel = validateCgroupPath(p);
  return controllerDirIn(await detectCgroups(), rel, controller);
}

/**
 * controllerDir for a path validateCgroupPath returned. The hierarchy's mount point comes from mountinfo
 * (absolute, normalized) and `rel` has no empty, `.` or `..` segment, so joining them is a concatenation:
 * path.join normalizes both again, character by character, which showed in the daemon's profile of a stats
 * call over 50 containers (docs/performance.md, "Phase 11").
 */
function controllerDirIn(l: CgroupLayout, rel: string, controller: string): string | undefined {
  const root = l.mode === 'v2' ? l.unified : l.v1.get(controller);
  if (root === undefined) return undefined;
  return root.endsWith('/') ? `${root}${rel}` : `${root}/${rel}`;
}

/**
 * A synchronous reader of cgroup `p`'s files: `(controller, file)` → the file's text, or undefined when the
 * controller is not mounted or the file (or the cgroup) does not exist. For the stats reads: a cgroupfs file
 * is made by the kernel on read, without disk I/O, so one read on the event loop (open, fstat, read, close:
 * tens of µs) costs less than the four thread-pool round trips of fs.promises.readFile
 * (docs/performance.md, "Phase 11"). `p` is validated once, here.
 */
export async function cgroupFileReader(p: string): Promise<(controller: string, file: string) => string | undefined> {
  const rel = validateCgroupPath(p);
  const l = await detectCgroups();
  return (controller, file) => {
    const dir = controllerDirIn(l, rel, controller);
    return dir === undefined ? undefined : readCgroupFileSync(`${dir}/${file}`);
  };
}

/** readCgroupFile on the event loop (see cgroupFileReader). */
function readCgroupFileSync(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENODEV') return undefined;
    throw err;
  }
}

/** Reads a cgroup file; undefined when it (or the cgroup) does not exist. */
export async function readCgroupFile(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENODEV') return undefined;
    throw err;
  }
}

/** Writes a cgroup file, mapping EINVAL/ERANGE to InvalidArgument and EBUSY to FailedPrecondition. */
export async function writeCgroupFile(file: string, value: string): Promise<void> {
  try {
    await fs.writeFile(file, value);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const what = `cannot write "${value}" to ${file}`;
    if (code === 'EINVAL' || code === 'ERANGE') throw new InvalidArgumentError(`${what}: ${code}`, { cause: err });
    if (code === 'EBUSY') throw new FailedPreconditionError(`${what}: ${code}`, { cause: err });
    throw err;
  }
}

/** Parses "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control). */
export function parseKeyValues(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) m.set(k, Number(v));
  }
  return m;
}

/** True when cgroup `p` exists in at least one hierarchy. */
export async function cgroupExists(p: string): Promise<boolean> {
  return (await cgroupDirs(p)).some((d) => existsSync(d));
}

/**
 * Creates cgroup `p` in every hierarchy (idempotent; the hierarchies at once). v1: new cpuset levels inherit
 * their parent's cpus and mems (a cpuset cgroup with empty ones refuses tasks). v2: the controllers ucri uses
 * are enabled in every ancestor's cgroup.subtree_control.
 */
export async function createCgroup(p: string): Promise<void> {
  const rel = validateCgroupPath(p);
  const l = await detectCgroups();
  const parts = rel.split('/');
  await settleAll((await cgroupDirs(rel)).map((dir) => fs.mkdir(dir, { recursive: true })));
  if (l.mode !== 'v2') {
    const root = l.v1.get('cpuset');
    if (!root) return;
    let cur = root;
    for (const part of parts) {
      const next = joinPath(cur, part);
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        if (readCgroupFileSync(joinPath(next, f))?.trim() === '') {
          await writeCgroupFile(joinPath(next, f), readCgroupFileSync(joinPath(cur, f))?.trim() ?? '');
        }
      }
      cur = next;
    }
    return;
  }
  let cur = l.unified!;
  for (const part of parts) {
    const offered = (readCgroupFileSync(joinPath(cur, 'cgroup.controllers')) ?? '').trim().split(/\s+/);
    const want = V2_CONTROLLERS.filter((c) => offered.includes(c));
    if (want.length > 0)
      await writeCgroupFile(joinPath(cur, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '));
    cur = joinPath(cur, part);
  }
}

/** Moves `pid` into cgroup `p` in every hierarchy. */
export async function addProcess(p: string, pid: number): Promise<void> {
  if (!Number.isInteger(pid) || pid <= 0) throw new InvalidArgumentError(`invalid pid ${pid}`);
  for (const d of await cgroupDirs(p)) await writeCgroupFile(joinPath(d, 'cgroup.procs'), String(pid));
}

/** PIDs in cgroup `p` (with `recursive`, also in its descendants), from every hierarchy, deduplicated. */
export async function listCgroupPids(p: string, opts: { recursive?: boolean } = {}): Promise<number[]> {
  const pids = new Set<number>();
  const visit = (dir: string): void => {
    const text = readCgroupFileSync(joinPath(dir, 'cgroup.procs'));
    if (text === undefined) return;
    for (const l of text.split('\n')) if (/^\d+$/.test(l.trim())) pids.add(Number(l));
    if (opts.recursive) for (const c of childCgroupDirs(dir)) visit(joinPath(dir, c));
  };
  for (const d of await cgroupDirs(p)) visit(d);
  return [...pids].sort((a, b) => a - b);
}

/** The child cgroups of a cgroup dir (read on the event loop: a cgroupfs listing); none when it is gone. */
export function childCgroupDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Names of the child cgroups of `p` (union over hierarchies), for orphan scans. */
export async function listChildCgroups(p: string): Promise<string[]> {
  const names = new Set<string>();
  for (const d of await cgroupDirs(p)) for (const n of childCgroupDirs(d)) names.add(n);
  return [...names].sort();
}

export interface KillOptions {
  signal?: AbortSignal;
  /** Give up after this long (default 10 s) with DeadlineExceededError. */
  timeoutMs?: number;
}

/**
 * SIGKILLs every process in cgroup `p` and its descendants and returns once none is left. v2 uses
 * cgroup.kill; v1 freezes the cgroup (so nothing forks between listing and killing), kills, thaws, repeats.
 */
export async function killCgroup(p: string, opts: KillOptions = {}): Promise<void> {
  const l = await detectCgroups();
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  const check = (): void => {
    if (opts.signal?.aborted) throw fromAbort(new Error('kill aborted'), opts.signal);
    if (Date.now() > deadline) throw new DeadlineExceededError(`processes of cgroup "${p}" survive SIGKILL`);
  };
  const killFile = l.mode === 'v2' ? joinPath((await controllerDir(p, 'cpu'))!, 'cgroup.kill') : undefined;
  const freezer = l.mode === 'v2' ? undefined : await controllerDir(p, 'freezer');
  for (;;) {
    const pids = await listCgroupPids(p, { recursive: true });
    if (pids.length === 0) return;
    check();
    // cgroup.kill (Linux 5.14+) is write-only: a read of it fails (EINVAL), so only its presence is checked.
    if (killFile && existsSync(killFile)) {
      await writeCgroupFile(killFile, '1');
    } else {
      const frozen = freezer !== undefined && (await freeze(freezer, opts.signal));
      try {
        for (const pid of await listCgroupPids(p, { recursive: true })) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      } finally {
        if (frozen) await writeCgroupFile(joinPath(freezer, 'freezer.state'), 'THAWED').catch(() => {});
      }
    }
    await sleep(20, opts.signal);
  }
}

async function freeze(dir: string, signal?: AbortSignal): Promise<boolean> {
  const state = joinPath(dir, 'freezer.state');
  for (let i = 0; i < 50; i++) {
    if (readCgroupFileSync(state) === undefined) return false;
    await writeCgroupFile(state, 'FROZEN');
    if (readCgroupFileSync(state)?.trim() === 'FROZEN') return true;
    await sleep(10, signal);
  }
  return false; // FREEZING for too long (e.g. a task in D state): kill unfrozen rather than not at all
}

/**
 * Removes cgroup `p` and its descendants from every hierarchy (the hierarchies at once), deepest first,
 * retrying while the kernel still reports it busy (tasks exiting). Absent cgroups are fine. Kill the
 * processes first (killCgroup).
 */
export async function removeCgroup(p: string, opts: KillOptions = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  const rmTree = async (dir: string): Promise<void> => {
    for (const c of childCgroupDirs(dir)) await rmTree(joinPath(dir, c));
    for (;;) {
      try {
        await fs.rmdir(dir);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        if (code !== 'EBUSY' || Date.now() > deadline) {
          throw new FailedPreconditionError(`cannot remove cgroup ${dir}: ${code}`, { cause: err });
        }
        if (opts.signal?.aborted) throw fromAbort(err, opts.signal);
        await sleep(50, opts.signal);
      }
    }
  };
  await settleAll((await cgroupDirs(p)).map(rmTree));
}

/** Kills everything in cgroup `p` and removes it: the whole teardown of a container's cgroup. */
export async function destroyCgroup(p: string, opts: KillOptions = {}): Promise<void> {
  await killCgroup(p, opts);
  await removeCgroup(p, opts);
}

/** Parses /proc/<pid>/cgroup into controller → path (v2 entry under the key ""). */
export function parseProcCgroup(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const path_ = line.slice(second + 1);
    const ctrls = line.slice(first + 1, second);
    if (ctrls === '') m.set('', path_);
    else for (const c of ctrls.split(',')) m.set(c, path_);
  }
  return m;
}

/** The cgroups of a process: controller → absolute cgroup path ("" for the v2/unified entry). */
export async function cgroupsOfPid(pid: number): Promise<Map<string, string>> {
  return parseProcCgroup(await fs.readFile(`/proc/${pid}/cgroup`, 'utf8'));
}
