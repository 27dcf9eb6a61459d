/**
 * Pinned namespaces: a pod's network, IPC and UTS namespaces live with no process in them, held by nsfs
 * bind mounts (ARCHITECTURE decision 2). util-linux `unshare --net=FILE …` creates them and does the binds.
 *
 *   <pinRoot>/                 bind-mounted onto itself and made private (see ensurePinRoot)
 *     <id>/net  <id>/ipc  <id>/uts    nsfs bind mounts, one file per namespace
 *     <id>/pid                        a process's pid namespace (pinProcessNamespace)
 *
 * The pin root must not be a shared mount: the kernel refuses, or silently multiplies, nsfs binds that
 * would propagate to peers; a private self-bind gives it a propagation of its own whatever `/` has.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  AlreadyExistsError,
  checkId,
  InternalError,
  InvalidArgumentError,
  isValidId,
  joinPath,
  logger,
  NotFoundError,
} from '../util/index.js';
import {
  bindMount,
  ensureSelfBind,
  escapeMountPath,
  isMountPoint,
  readMountInfo,
  unmount,
  unmountUntilBare,
} from './mount.js';
import { mountServer } from './mount-server.js';
import { nativeHelper } from './native.js';
import { readStartTime } from './proc.js';
import { run } from './spawn.js';

const log = logger('sys/namespaces');

/** Namespaces that can be pinned without a process. */
export type PinnedKind = 'net' | 'ipc' | 'uts';
const KINDS: readonly PinnedKind[] = ['net', 'ipc', 'uts'];
/** Every pin file a pin directory may hold: the above, and `pid`, pinned from a live process (pinProcessNamespace). */
const ALL_PIN_FILES = [...KINDS, 'pid'] as const;

export type NamespacePins = Partial<Record<PinnedKind, string>>;

/** RFC 1123 hostname, at most 64 bytes (the UTS field size). */
const HOSTNAME_RE = /^(?=.{1,64}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/** Validates a hostname for a UTS namespace. */
export function validateHostname(name: string): void {
  if (!HOSTNAME_RE.test(name)) throw new InvalidArgumentError(`invalid hostname "${name}"`);
}

/** Paths of the pin files of `id` under `pinRoot` (whether or not they exist). */
export function pinPaths(pinRoot: string, id: string, kinds: readonly PinnedKind[] = KINDS): NamespacePins {
  checkId(id, 'namespace pin id');
  const out: NamespacePins = {};
  for (const k of kinds) out[k] = joinPath(pinRoot, id, k);
  return out;
}

/** Makes `pinRoot` exist as a private self-bind mount (idempotent; call at daemon start). */
export async function ensurePinRoot(pinRoot: string, signal?: AbortSignal): Promise<void> {
  await ensureSelfBind(pinRoot, 'private', { signal });
}

export interface CreatePinsOptions {
  /** Which namespaces to create (default net, ipc, uts). */
  kinds?: readonly PinnedKind[];
  /** Hostname to set inside the new UTS namespace (requires 'uts'). */
  hostname?: string;
  signal?: AbortSignal;
}

/**
 * Creates new namespaces for `id` and pins them under `pinRoot/<id>/`. The pin root must have been prepared
 * by ensurePinRoot. Sets the hostname in the new UTS namespace and brings `lo` up in the new network
 * namespace. AlreadyExistsError when `id` already has pins; on any failure nothing is left behind.
 */
export async function createPinnedNamespaces(
  pinRoot: string,
  id: string,
  opts: CreatePinsOptions = {},
): Promise<NamespacePins> {
  const kinds = opts.kinds ?? KINDS;
  if (kinds.length === 0 || kinds.some((k) => !KINDS.includes(k))) {
    throw new InvalidArgumentError(`invalid namespace kinds "${kinds.join(',')}"`);
  }
  if (opts.hostname !== undefined) {
    validateHostname(opts.hostname);
    if (!kinds.includes('uts')) throw new InvalidArgumentError('a hostname needs a new uts namespace');
  }
  const pins = pinPaths(pinRoot, id, kinds);
  const dir = joinPath(pinRoot, id);
  if (!(await isMountPoint(pinRoot))) {
    throw new InvalidArgumentError(`namespace pin root "${pinRoot}" is not prepared (not a mount point)`);
  }
  try {
    await fs.mkdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new AlreadyExistsError(`namespaces of "${id}" already exist`, { cause: err });
    }
    throw err;
  }
  try {
    const args: string[] = [];
    for (const k of kinds) {
      const file = pins[k]!;
      // unshare bind-mounts onto the file, which must exist.
      await fs.writeFile(file, '', { flag: 'wx' });
      args.push(`--${k}=${file}`);
    }
    const server = mountServer();
    if (server) {
      // The daemon's nsutil serve forks a child that pins (native/nsutil.c): no exec of a new process.
      opts.signal?.throwIfAborted();
      const hostname = opts.hostname ?? '';
      const a = await server.call(['pin', pins.net ?? '', pins.ipc ?? '', pins.uts ?? '', hostname]);
      if (a.errno !== 0) throw new InternalError(`nsutil pin of "${id}" failed: ${a.code} ${a.message}`);
      return pins;
    }
    const nsutil = nativeHelper('nsutil');
    if (nsutil) {
      // One process instead of unshare + nsenter + ip (native/nsutil.c): namespaces, hostname, lo up, binds.
      const pinArgs = kinds.flatMap((k) => [`--${k}`, pins[k]!]);
      if (opts.hostname !== undefined) pinArgs.push('--hostname', opts.hostname);
      await run(nsutil, ['pin', ...pinArgs], { signal: opts.signal });
      return pins;
    }
    // The program unshare runs inside the new namespaces sets the hostname; `true` when there is none.
    const inner = opts.hostname !== undefined ? ['hostname', '--', opts.hostname] : ['true'];
    await run('unshare', [...args, '--', ...inner], { signal: opts.signal });
    if (pins.net)
      await run('nsenter', [`--net=${pins.net}`, '--', 'ip', 'link', 'set', 'lo', 'up'], {
        signal: opts.signal,
      });
    return pins;
  } catch (err) {
    await removePinnedNamespaces(pinRoot, id).catch((e: unknown) => log.warn({ err: e, id }, 'pin cleanup failed'));
    throw err;
  }
}

/**
 * Unmounts and deletes the pins of `id` (idempotent: absent pins are fine). A namespace is freed by the
 * kernel once no pin, process or open fd holds it.
 */
export async function removePinnedNamespaces(pinRoot: string, id: string, signal?: AbortSignal): Promise<void> {
  checkId(id, 'namespace pin id');
  const dir = joinPath(pinRoot, id);
  const mounted = new Set((await readMountInfo('self', escapeMountPath(dir))).map((m) => m.mountPoint));
  const nsutil = nativeHelper('nsutil');
  const pinned = ALL_PIN_FILES.map((k) => joinPath(dir, k)).filter((f) => mounted.has(f));
  if (mountServer() && pinned.length > 0) {
    // The daemon's mount helper (no process): each pin unmounted until bare, as `nsutil unmount` does.
    for (const file of pinned) await unmountUntilBare(file, signal);
    await fs.rm(dir, { recursive: true, force: true });
    return;
  }
  if (nsutil && pinned.length > 0) {
    // All pins in one process (native/nsutil.c), each unmounted until bare.
    await run(nsutil, ['unmount', '--lazy', ...pinned], { signal });
    await fs.rm(dir, { recursive: true, force: true });
    return;
  }
  for (const k of ALL_PIN_FILES) {
    const file = joinPath(dir, k);
    // A pin may have been over-mounted more than once by a retried create; unmount until it is bare.
    for (let i = 0; i < 8 && mounted.has(file); i++) {
      await unmount(file, { lazy: true, signal });
      if (!(await isMountPoint(file))) break;
    }
  }
  await fs.rm(dir, { recursive: true, force: true });
}

/**
 * Pins the `kind` namespace of process `pid` at `<pinRoot>/<id>/<kind>` (a bind mount of /proc/PID/ns/KIND),
 * so it is joined by path from then on, never again through a pid that may have been reused. `startTime`
 * (field 22 of /proc/PID/stat) is checked after the bind: if the process is not the one meant, the pin is
 * undone and NotFoundError thrown, so a pin never holds a stranger's namespace. Returns the pin file.
 */
export async function pinProcessNamespace(
  pinRoot: string,
  id: string,
  kind: 'pid',
  pid: number,
  startTime: bigint,
  signal?: AbortSignal,
): Promise<string> {
  checkId(id);
  const file = joinPath(pinRoot, id, kind);
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new InvalidArgumentError(`invalid pid ${pid}`);
  if (!(await isMountPoint(pinRoot))) {
    throw new InvalidArgumentError(`namespace pin root "${pinRoot}" is not prepared (not a mount point)`);
  }
  await fs.mkdir(path.dirname(file), { recursive: true });
  if (await isMountPoint(file)) await unmount(file, { lazy: true, signal });
  await fs.writeFile(file, '');
  await bindMount(`/proc/${pid}/ns/${kind}`, file, { signal });
  if ((await readStartTime(pid)) !== startTime) {
    await unmount(file, { lazy: true }).catch(() => undefined);
    throw new NotFoundError(`process ${pid} is gone: its ${kind} namespace was not pinned`);
  }
  return file;
}

/** Ids that have a pin directory under `pinRoot` (for orphan cleanup at recovery). */
export async function listPinnedIds(pinRoot: string): Promise<string[]> {
  try {
    const entries = await fs.readdir(pinRoot, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory() && isValidId(e.name))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** The inode of the namespace a pin (or /proc/<pid>/ns/<kind>) refers to: equal inodes, same namespace. */
export async function namespaceInode(nsPath: string): Promise<number> {
  try {
    return (await fs.stat(nsPath)).ino;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NotFoundError(`namespace "${nsPath}" not found`, { cause: err });
    }
    throw err;
  }
}

/** True when `pinFile` currently holds a namespace (it is an nsfs mount). */
export async function isPinned(pinFile: string): Promise<boolean> {
  const target = path.resolve(pinFile);
  return (await readMountInfo('self', escapeMountPath(target))).some(
    (m) => m.mountPoint === target && m.fsType === 'nsfs',
  );
}
