/**
 * Atomic files: write to a temp file beside the target, fsync, rename over it, fsync the directory.
 * A crash leaves either the old or the new content, never a torn file. Readers ignore `*.tmp-*` leftovers;
 * `removeStaleTemps` clears them at recovery.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsync, promises as fs, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { exchangeSync } from './exchange.js';
import { joinPath } from './path.js';
import { addCost, profiling } from './profile.js';
import { settleAll } from './settle.js';

const TMP_MARK = '.tmp-';

/**
 * A fresh temp name beside `file`, which readers skip (isTempName) and removeStaleTemps clears: this process's
 * random tag and a counter. Unique within the process by the counter, and against the leftovers of an earlier
 * process by the tag, drawn once: a `randomBytes` per name cost ~20 µs of the event loop under load, and a
 * busy daemon names several temps per verb.
 */
function tempPathFor(file: string): string {
  tempCount++;
  return joinPath(path.dirname(file), `${path.basename(file)}${TMP_MARK}${TEMP_TAG}${tempCount.toString(36)}`);
}

const TEMP_TAG = `${randomBytes(6).toString('hex')}-`;
let tempCount = 0;

/** Writes `data` to `file` atomically (parent directories are created). */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const t0 = profiling ? performance.now() : 0;
  await writeAtomic(file, data, mode, true);
  if (profiling) addCost(`checkpoint ${costPath(file)}`, performance.now() - t0);
}

/**
 * Replaces `file` by `data` with a rename, so a reader never sees a torn file, but without the two fsyncs.
 * The next process sees the new content after a crash of this one (the page cache survives it); only a power
 * loss or kernel crash may leave it old, empty or missing. For files that are either derived from a durable
 * record (the OCI bundle's config.json, a status the containerizer's own record holds), or that describe
 * something a reboot undoes anyway (a process, a runtime container, a mount), or that `syncFile` makes
 * durable later, before anything depends on that (docs/performance.md, phases 3 and 4).
 */
export async function writeFileReplace(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const t0 = profiling ? performance.now() : 0;
  await writeAtomic(file, data, mode, false);
  if (profiling) addCost(`replace ${costPath(file)}`, performance.now() - t0);
}

/**
 * writeFileReplace on the event loop: open, write, close and rename as four syscalls on a small file, instead
 * of four thread-pool round trips (2–5× slower under load). Only for small records in ucri's own stores, on a
 * step that waits for the write (docs/performance.md, "CreateContainer, phase 9").
 * Same file, same temp name, same outcome after a crash.
 */
export function writeFileReplaceSync(file: string, data: string | Uint8Array, mode = 0o600): void {
  const t0 = profiling ? performance.now() : 0;
  const temp = writeTempSync(file, data, mode);
  closeAndRenameSync(temp, file);
  if (profiling) addCost(`replace ${costPath(file)}`, performance.now() - t0);
}

/** A temp file beside the target, written and still open. */
interface OpenTemp {
  path: string;
  fd: number;
}

/** Makes a new temp file beside `file` and writes `data` into it, on the event loop; removed again on failure. */
function writeTempSync(file: string, data: string | Uint8Array, mode: number): OpenTemp {
  const tmp = tempPathFor(file);
  const fd = openNewSync(tmp, mode);
  try {
    writeFileSync(fd, data);
  } catch (err) {
    dropTempSync({ path: tmp, fd });
    throw err;
  }
  return { path: tmp, fd };
}

/** Closes the temp and puts it in place of `file`, on the event loop; the temp is removed when that fails. */
function closeAndRenameSync(temp: OpenTemp, file: string): void {
  closeSync(temp.fd);
  try {
    replaceSync(temp.path, file);
  } catch (err) {
    rmSync(temp.path, { force: true });
    throw err;
  }
}

/**
 * Puts the just written `temp` in place of `file`, as a rename does, without freeing the old file on the event
 * loop. When `file` exists, the two names are exchanged (exchange.ts) and the old file, now under the temp name,
 * is unlinked in the thread pool (unlinkLater). A rename over it would free it inside the rename: on ext4
 * mounted with `discard` (as on the VMs ucri is measured on) that waits for the device to discard its blocks,
 * and ext4 also starts the new file's writeback there (`auto_da_alloc`): 0.15–0.3 ms against ~0.01 ms for the
 * exchange (docs/performance.md, "Phase 16"). Readers see the old content, then the new, as with a rename; a crash
 * before the unlink leaves the old file under a temp name, which readers skip and removeStaleTemps clears.
 * A first write (no `file` yet), a file system that cannot exchange or a missing addon: a plain rename.
 */
function replaceSync(temp: string, file: string): void {
  if (exchangeSync(temp, file) === 0) unlinkLater(temp);
  else renameSync(temp, file);
}

/**
 * Unlinks in the background, through the thread pool, once the current turn of the event loop has ended (the
 * write that asked for it is usually in the middle of a request's synchronous stretch, which goes on to its
 * answer first). Gone already is fine, so is any other failure: what stays is a temp file, cleared at recovery.
 */
function unlinkLater(file: string): void {
  unlinkQueue.push(file);
  unlinkTurn ??= new Promise<void>((resolve) =>
    setImmediate(() => {
      unlinkTurn = undefined;
      for (const f of unlinkQueue.splice(0)) {
        const done = fs.unlink(f).then(
          () => {},
          () => {},
        );
        pendingUnlinks.add(done);
        void done.then(() => pendingUnlinks.delete(done));
      }
      resolve();
    }),
  );
}

const unlinkQueue: string[] = [];
let unlinkTurn: Promise<void> | undefined;
const pendingUnlinks = new Set<Promise<void>>();

/** Resolves once every background unlink asked for before has ended (a clean shutdown, tests). */
export async function backgroundUnlinksSettled(): Promise<void> {
  await unlinkTurn;
  await Promise.all([...pendingUnlinks]);
}

/** Closes and removes a temp that will not be renamed. */
function dropTempSync(temp: OpenTemp): void {
  closeSync(temp.fd);
  rmSync(temp.path, { force: true });
}

/** writeJsonReplace on the event loop (writeFileReplaceSync). */
export function writeJsonReplaceSync(file: string, value: unknown): void {
  writeFileReplaceSync(file, jsonText(value));
}

/** The last three parts of `file` with ids starred: `cri/containers/*.json` (profiling only). */
function costPath(file: string): string {
  return file
    .replace(/[0-9a-f]{12,}/g, '*')
    .split('/')
    .slice(-3)
    .join('/');
}

/** Up to this size a write's open, write, close and rename are made on the event loop (smallWriteAtomic). */
const SMALL_WRITE = 64 << 10;

async function writeAtomic(file: string, data: string | Uint8Array, mode: number, durable: boolean): Promise<void> {
  if (data.length <= SMALL_WRITE) return smallWriteAtomic(file, data, mode, durable);
  const dir = path.dirname(file);
  const tmp = tempPathFor(file);
  const fh = await openNew(tmp, mode);
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } catch (err) {
    await fh.close();
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  if (durable) await syncDir(dir);
}

/**
 * writeAtomic of a small file: the same syscalls in the same order, but only the fsyncs (the calls that wait
 * for the disk) go through the thread pool; open, write, close and rename are made on the event loop, where
 * under load they cost a fraction of a pool round trip each (docs/performance.md, "CreateContainer, phase 10").
 */
async function smallWriteAtomic(
  file: string,
  data: string | Uint8Array,
  mode: number,
  durable: boolean,
): Promise<void> {
  const temp = writeTempSync(file, data, mode);
  if (durable) {
    try {
      await fsyncFd(temp.fd);
    } catch (err) {
      dropTempSync(temp);
      throw err;
    }
  }
  closeAndRenameSync(temp, file);
  if (durable) await fsyncPath(path.dirname(file));
}

/** openNew on the event loop: the fd of a new `file`, its parent directories made only when missing. */
function openNewSync(file: string, mode: number): number {
  try {
    return openSync(file, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(path.dirname(file), { recursive: true });
    return openSync(file, 'wx', mode);
  }
}

/** fsync(2) of an open fd in the thread pool: the one call of a durable write that may wait for the disk. */
function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/** Creates `file` (which must not exist); its parent directories only when missing (one call fewer per write). */
async function openNew(file: string, mode: number): Promise<FileHandle> {
  try {
    return await fs.open(file, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await fs.mkdir(path.dirname(file), { recursive: true });
    return await fs.open(file, 'wx', mode);
  }
}

/** Writes a JSON checkpoint atomically. bigint values are stored as decimal strings. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, jsonText(value));
}

/** writeFileReplace of a JSON document (see there: derived files only, no fsync). */
export async function writeJsonReplace(file: string, value: unknown): Promise<void> {
  await writeFileReplace(file, jsonText(value));
}

function jsonText(value: unknown): string {
  return `${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`;
}

/**
 * Writes a JSON document to a file that does not exist yet and makes it durable in one concurrent
 * round: the temp file is written and renamed into place, then the file, its directory and `alsoSync`
 * (e.g. the parent of a directory made just before) are fsync'd at the same time (they share the journal
 * commits). Cheaper than writeJsonAtomic (whose fsync of the file comes before the rename, the directory's
 * after it: two rounds one after the other), at a price: a power loss during the round may leave the name
 * durable but the content not, i.e. a torn (empty or partial) file under the final name. Only for a record
 * whose reader treats a torn file exactly like an absent one; never to replace an existing record (whose
 * previous content a torn file would destroy). Resolves once everything is durable.
 */
export async function writeNewJsonDurable(file: string, value: unknown, alsoSync: readonly string[] = []) {
  const t0 = profiling ? performance.now() : 0;
  // Made, written and renamed on the event loop (a small record of ucri's own store: four syscalls, where
  // each thread-pool round trip costs more under load); only the fsyncs go to the pool, all at once. The fd
  // stays open across the rename (it names the inode, not the path), so the file's fsync needs no open.
  const temp = writeTempSync(file, jsonText(value), 0o600);
  try {
    try {
      renameSync(temp.path, file);
    } catch (err) {
      rmSync(temp.path, { force: true });
      throw err;
    }
    await settleAll([fsyncFd(temp.fd), fsyncPath(path.dirname(file)), ...alsoSync.map(fsyncPath)]);
  } finally {
    closeSync(temp.fd);
  }
  if (profiling) addCost(`new durable ${costPath(file)}`, performance.now() - t0);
}

/** Reads a JSON checkpoint; undefined when the file does not exist. */
export async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as unknown;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Makes a file that writeFileReplace wrote durable: fsyncs it and its directory (the rename), concurrently.
 * The order of the two does not matter: the rename was done before, unsynced, so until both are done a power
 * loss may keep the new name with the old or torn content either way; the file is durable when this resolves.
 * Run it concurrently with other durable writes on the same filesystem and they share the journal commits.
 */
export async function syncFile(file: string): Promise<void> {
  await syncFileBeside(file, () => fsyncPath(path.dirname(file)));
}

/** fsyncs `file` and, at the same time, its directory through `syncDirectory`; profiled as `sync <file>`. */
async function syncFileBeside(file: string, syncDirectory: () => Promise<void>): Promise<void> {
  const t0 = profiling ? performance.now() : 0;
  await settleAll([fsyncPath(file), syncDirectory()]);
  if (profiling) addCost(`sync ${costPath(file)}`, performance.now() - t0);
}

/** fsyncs a directory so a rename inside it is durable. */
export async function syncDir(dir: string): Promise<void> {
  await fsyncPath(dir);
}

/**
 * A directory kept open for its fsyncs: one thread-pool round trip per sync instead of three (open, fsync,
 * close). For a directory that lives as long as the process that syncs it (a record store's). The handle is
 * opened on first use; `close` ends it (a later sync opens it again).
 */
export class DirSyncer {
  #handle: Promise<FileHandle> | undefined;

  constructor(readonly dir: string) {}

  /** fsyncs the directory: every rename, create or unlink inside it done before is durable when this resolves. */
  async sync(): Promise<void> {
    this.#handle ??= fs.open(this.dir, 'r');
    let fh: FileHandle;
    try {
      fh = await this.#handle;
    } catch (err) {
      this.#handle = undefined;
      throw err;
    }
    await fh.sync();
  }

  /** Makes `file` (inside this directory, written by writeFileReplace) durable, as syncFile does. */
  async syncFile(file: string): Promise<void> {
    await syncFileBeside(file, () => this.sync());
  }

  /** Closes the handle, if open. */
  async close(): Promise<void> {
    const h = this.#handle;
    this.#handle = undefined;
    await (await h?.catch(() => undefined))?.close();
  }
}

/**
 * Removes `file` (absent is fine) from its directory on the event loop: a small record of ucri's own store,
 * where a thread-pool round trip costs more than the syscall under load (fs.rm would add an lstat). The file is
 * renamed to a temp name beside it, which is what its directory's fsync then makes durable, and unlinked in
 * the thread pool: an unlink on the event loop would free its blocks there, which on a `discard` mount waits
 * for the device (replaceSync). A crash before that unlink leaves a temp file, which readers skip and
 * removeStaleTemps clears. Not for directories.
 */
export function unlinkIfPresentSync(file: string): void {
  const aside = tempPathFor(file);
  try {
    renameSync(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return;
  }
  unlinkLater(aside);
}

/**
 * fsyncs a file or a directory: opened and closed on the event loop (a path of ucri's own store; neither waits
 * for the disk), only the fsync in the thread pool: one round trip there instead of three.
 */
async function fsyncPath(p: string): Promise<void> {
  const fd = openSync(p, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

/** True for the temp files that writeFileAtomic leaves behind when interrupted. */
export function isTempName(name: string): boolean {
  return name.includes(TMP_MARK);
}

/** Removes interrupted temp files directly inside `dir`. */
export async function removeStaleTemps(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  await Promise.all(names.filter(isTempName).map((n) => fs.rm(joinPath(dir, n), { force: true, recursive: true })));
}
