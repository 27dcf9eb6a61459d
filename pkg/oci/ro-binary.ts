/**
 * The OCI runtime's binary, bind-mounted read-only for the runtime to run from.
 *
 * crun (like runc's `init`) defends against CVE-2019-5736, where a container process writes to the host's
 * runtime binary through /proc/<pid>/exe: before anything else, every crun process binds /proc/self/exe onto
 * a temp file, remounts that read-only and re-executes itself from it, unless it already runs from a
 * read-only mount (or a sealed memfd). That is a second execve with a second load of its ten shared
 * libraries, ~1.3 ms of each exec and create on this VM (docs/performance.md, "Phase 15"). Run from a
 * read-only bind mount of the same file, crun finds itself safe and starts once; a write through
 * /proc/<pid>/exe then fails with EROFS, the defence crun's own copy gives.
 *
 * The mount names one version of the binary: `<dir>/<name>-<dev>-<ino>`. A package upgrade replaces the
 * installed file (a new inode), so each `path()` compares the installed file's stat with the mounted one;
 * on a change it returns the installed path (crun then copies itself, as without this) and mounts the new
 * version in the background; the old mount is detached 30 s after the new one is in use (a call handed its
 * path execs it a few ms later). No call runs a binary other than the one installed when it was handed its
 * path, and none waits for a mount.
 */
import { type Stats, promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { bindMount, escapeMountPath, readMountInfo, unmount, unmountUntilBare } from '../sys/index.js';
import { errorMessage, joinPath, logger } from '../util/index.js';

const log = logger('oci/ro-binary');

/** How long a replaced version's mount is kept for the calls already handed its path. */
const RETIRE_AFTER_MS = 30_000;

/** What identifies one version of the installed file. */
interface Version {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

function versionOf(st: Stats): Version {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
}

function sameVersion(a: Version, b: Version): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/** Detaches the mount at `p` (lazily: a process running from it keeps its file) and removes the mount point. */
async function detach(p: string): Promise<void> {
  await unmountUntilBare(p);
  await fs.rm(p, { force: true });
}

export class ReadOnlyBinary {
  /** The mount in use and the version it shows; undefined until one is made. */
  #mounted: { path: string; version: Version } | undefined;
  /** The background mount of a new version, while it runs. */
  #refreshing: Promise<void> | undefined;
  /** After close(): the installed file, and no new mount. */
  #closed = false;

  private constructor(
    /** The installed binary (absolute). */
    readonly source: string,
    /** The directory of the mounts, private to this ucri instance. */
    readonly dir: string,
    /** How long a replaced version's mount stays (retire). */
    private readonly retireAfterMs: number,
  ) {}

  /**
   * Mounts the installed `source` read-only under `dir` (reusing a mount a previous run of this instance left
   * there when it shows the same version) and detaches the other versions' mounts found there.
   */
  static async open(source: string, dir: string, opts: { retireAfterMs?: number } = {}): Promise<ReadOnlyBinary> {
    const b = new ReadOnlyBinary(source, dir, opts.retireAfterMs ?? RETIRE_AFTER_MS);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await b.refresh();
    // Versions a previous run mounted: nothing of this run uses them; a runtime process still running one
    // keeps its file, and the mount goes once it exits (lazy).
    await b.detachAllBut(b.#mounted?.path);
    return b;
  }

  /**
   * The path to execute: the read-only mount while it shows the installed version, else the installed path
   * itself (and the new version is mounted in the background, for the calls after).
   */
  path(): string {
    const m = this.#mounted;
    let now: Version;
    try {
      now = versionOf(statSync(this.source));
    } catch {
      return this.source; // gone or unreadable: the exec reports it, as without the mount
    }
    if (m && sameVersion(m.version, now)) return m.path;
    if (this.#closed) return this.source;
    this.#refreshing ??= this.refresh()
      .catch((err: unknown) => log.warn({ source: this.source, err: errorMessage(err) }, 'read-only mount failed'))
      .finally(() => {
        this.#refreshing = undefined;
      });
    return this.source;
  }

  /** Waits for a background mount in flight (tests; close). */
  async settled(): Promise<void> {
    await this.#refreshing;
  }

  /**
   * Detaches every mount in the directory and removes their files (a clean stop of the daemon): from then on
   * `path()` gives the installed file. A runtime process started from a mount keeps running (lazy detach).
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.settled();
    this.#mounted = undefined;
    await this.detachAllBut(undefined);
  }

  /** Detaches every mount in the directory but `keep`, and removes their files. */
  private async detachAllBut(keep: string | undefined): Promise<void> {
    for (const name of await fs.readdir(this.dir).catch(() => [])) {
      const p = joinPath(this.dir, name);
      if (p !== keep) await detach(p);
    }
  }

  /** Mounts the installed version (or adopts its mount), then detaches the one it replaces. */
  private async refresh(): Promise<void> {
    const version = versionOf(await fs.stat(this.source));
    const target = joinPath(this.dir, `${path.basename(this.source)}-${version.dev}-${version.ino}`);
    if (!(await this.showsReadOnly(target, version))) {
      await unmountUntilBare(target);
      await fs.writeFile(target, '', { mode: 0o500, flag: 'a' });
      await bindMount(this.source, target, { readOnly: true });
      if (!(await this.showsReadOnly(target, version))) {
        await unmount(target, { lazy: true });
        throw new Error(`${target} is not a read-only mount of ${this.source} after binding it`);
      }
    }
    const old = this.#mounted;
    this.#mounted = { path: target, version };
    if (old && old.path !== target) this.retire(old.path);
  }

  /**
   * Detaches a replaced version's mount once the calls that were handed its path have had time to execute it
   * (their execs happen a few ms later, in helper processes); close() detaches it at once.
   */
  private retire(p: string): void {
    const done = (): void => {
      detach(p).catch((err: unknown) =>
        log.warn({ path: p, err: errorMessage(err) }, 'detaching a replaced mount failed'),
      );
    };
    if (this.retireAfterMs <= 0) done();
    else setTimeout(done, this.retireAfterMs).unref();
  }

  /** True when `target` is a read-only mount (its top one) showing the file of `version`. */
  private async showsReadOnly(target: string, version: Version): Promise<boolean> {
    const mounts = (await readMountInfo('self', escapeMountPath(target))).filter((m) => m.mountPoint === target);
    const top = mounts.at(-1);
    if (!top?.options.includes('ro')) return false;
    try {
      const st = versionOf(await fs.stat(target));
      return sameVersion(st, version);
    } catch {
      return false;
    }
  }
}
