/**
 * The copy backend: every layer copied, base to top, into one plain directory that the container owns and
 * writes to. Works on any filesystem and needs no mount, at the cost of time and space per container.
 *
 * Layers come from the store in overlay form, so this backend does by hand what overlayfs does when it
 * stacks them. For each layer, before its files are copied:
 *   - an entry whose type differs from what lower layers left at that path (dir vs. non-dir, e.g. a dir over
 *     a symlink) replaces it: the old one is removed first, so nothing is ever written through a symlink;
 *   - a non-directory replaces what is there (removed, then copied: hard links to it keep their old content,
 *     as in overlayfs);
 *   - a whiteout (0/0 char device) deletes the path below; an opaque dir (`trusted.overlay.opaque=y`) loses
 *     what lower layers put in it.
 * Then tar copies the layer's other entries (see tarCopy); whiteout nodes and `trusted.overlay.*` marks
 * are left out: in a plain directory they would only be litter, and on overlayfs they cannot be made.
 *
 * Paths below the rootfs are only touched after checking that every parent component is a real directory,
 * so a symlink a lower layer planted (`/data -> /etc`) cannot steer a removal out of the rootfs.
 */
import type { StdioOptions } from 'node:child_process';
import { type Dirent, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { type Child, run, start, waitChild } from '../../../sys/index.js';
import { FailedPreconditionError, InternalError } from '../../../util/index.js';
import type { Backend, BackendContext } from './types.js';

const OPAQUE_XATTR = 'trusted.overlay.opaque';

interface LayerScan {
  /** Relative paths of every entry, parents before children. */
  entries: { rel: string; dir: boolean; whiteout: boolean }[];
  opaques: string[];
}

async function scanLayer(layer: string, signal?: AbortSignal): Promise<LayerScan> {
  const entries: LayerScan['entries'] = [];
  const walk = async (rel: string): Promise<void> => {
    signal?.throwIfAborted();
    let list: Dirent[];
    try {
      list = await fs.readdir(path.join(layer, rel), { withFileTypes: true });
    } catch (err) {
      throw new FailedPreconditionError(`layer "${layer}" cannot be read`, { cause: err });
    }
    list.sort((a, b) => (a.name < b.name ? -1 : 1));
    const subdirs: string[] = [];
    for (const d of list) {
      const r = rel === '' ? d.name : `${rel}/${d.name}`;
      let whiteout = false;
      if (d.isCharacterDevice()) whiteout = (await fs.lstat(path.join(layer, r))).rdev === 0;
      entries.push({ rel: r, dir: d.isDirectory(), whiteout });
      if (d.isDirectory()) subdirs.push(r);
    }
    for (const s of subdirs) await walk(s);
  };
  await walk('');
  // Parents first: a replaced parent must be gone before its children are looked at.
  entries.sort((a, b) => depth(a.rel) - depth(b.rel));
  return { entries, opaques: await opaqueDirs(layer, signal) };
}

function depth(rel: string): number {
  return rel.split('/').length;
}

/** Dirs of `layer` marked opaque, relative; one getfattr walk (Node cannot read xattrs). */
async function opaqueDirs(layer: string, signal?: AbortSignal): Promise<string[]> {
  const r = await run(
    'getfattr',
    ['-R', '-P', '-h', '--absolute-names', '-e', 'text', '-m', '^trusted\\.overlay\\.opaque$', '-d', '.'],
    { cwd: layer, signal, maxStdout: 64 * 1024 * 1024 },
  );
  const out: string[] = [];
  let file: string | undefined;
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('# file: ')) {
      // getfattr escapes unusual bytes (newline, backslash…) as \ooo.
      file = line.slice(8).replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    } else if (file !== undefined && line === `${OPAQUE_XATTR}="y"`) {
      const rel = path.posix.normalize(file).replace(/^\.\/?/, '');
      if (rel !== '') out.push(rel);
    }
  }
  return out;
}

/**
 * lstat of `rel` inside `root`, or undefined when it is absent or hidden behind a parent that is not a
 * real directory (then the parent has been, or will be, replaced as a whole).
 */
async function lstatInRoot(root: string, rel: string): Promise<Stats | undefined> {
  const parts = rel.split('/');
  let cur = root;
  for (let i = 0; i < parts.length; i++) {
    cur = path.join(cur, parts[i] as string);
    let st: Stats;
    try {
      st = await fs.lstat(cur);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
        return undefined;
      }
      throw err;
    }
    if (i === parts.length - 1) return st;
    if (!st.isDirectory()) return undefined;
  }
  return undefined;
}

async function emptyDir(dir: string): Promise<void> {
  for (const name of await fs.readdir(dir)) await fs.rm(path.join(dir, name), { recursive: true, force: true });
}

/** Applies one layer's replacements, whiteouts and opaque dirs to `rootfs`, ahead of copying it. */
async function prepareFor(rootfs: string, scan: LayerScan): Promise<void> {
  const opaque = new Set(scan.opaques);
  for (const e of scan.entries) {
    const st = await lstatInRoot(rootfs, e.rel);
    if (!st) continue;
    const target = path.join(rootfs, e.rel);
    if (e.dir && st.isDirectory()) {
      if (opaque.has(e.rel)) await emptyDir(target);
      continue;
    }
    // Type change, replaced file or whiteout: the lower layers' entry goes (rm never follows a final symlink).
    await fs.rm(target, { recursive: true, force: true });
  }
}

const TAR_COMMON = ['--xattrs', '--xattrs-include=*', '--xattrs-exclude=trusted.overlay.*', '--numeric-owner'];
const STDERR_KEEP = 8192;

/**
 * Copies the listed entries of `layer` into `rootfs` through a `tar -c | tar -x` pipe: tar keeps every kind
 * of metadata (owners, modes, times, xattrs and capabilities in the right order, hard links among the
 * listed names, devices, fifos, sparse files), and the explicit list (no recursion) leaves the whiteouts
 * out, which a filesystem such as overlayfs would refuse to create anyway.
 */
async function tarCopy(layer: string, rootfs: string, rels: readonly string[], signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  const stdio: StdioOptions = ['pipe', 'pipe', 'pipe'];
  const create = await start(
    'tar',
    ['-C', layer, '--null', '--no-recursion', '-T', '-', '--sparse', ...TAR_COMMON, '-cf', '-'],
    { stdio },
  );
  let extract: Child;
  try {
    extract = await start('tar', ['-C', rootfs, ...TAR_COMMON, '--same-owner', '--same-permissions', '-xf', '-'], {
      stdio,
    });
  } catch (err) {
    create.kill('SIGKILL');
    throw err;
  }
  const errs = [create, extract].map((c) => {
    let text = '';
    c.stderr?.on('data', (b: Buffer) => {
      text = (text + b.toString('utf8')).slice(-STDERR_KEEP);
    });
    return () => text.trim();
  });
  const kill = (): void => {
    // Only the two children started here, by their own pids.
    for (const c of [create, extract]) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  signal?.addEventListener('abort', kill, { once: true });
  try {
    create.stdout?.pipe(extract.stdin as NodeJS.WritableStream);
    extract.stdin?.on('error', () => {});
    create.stdin?.on('error', () => {});
    create.stdin?.end(['.', ...rels.map((r) => `./${r}`)].join('\0') + '\0');
    const [c, x] = await Promise.all([waitChild(create), waitChild(extract)]);
    signal?.throwIfAborted();
    if (c.code !== 0 || x.code !== 0) {
      const why = [errs[0]?.(), errs[1]?.()].filter((t) => t).join('; ');
      throw new InternalError(`tar copy exited with ${c.code ?? c.signal}/${x.code ?? x.signal}: ${why}`);
    }
  } finally {
    signal?.removeEventListener('abort', kill);
    kill();
  }
}

async function copyLayers(ctx: BackendContext): Promise<void> {
  await fs.mkdir(ctx.rootfs, { mode: 0o755 });
  for (const layer of ctx.layerDirs) {
    ctx.signal?.throwIfAborted();
    const scan = await scanLayer(layer, ctx.signal);
    await prepareFor(ctx.rootfs, scan);
    try {
      await tarCopy(
        layer,
        ctx.rootfs,
        scan.entries.filter((e) => !e.whiteout).map((e) => e.rel),
        ctx.signal,
      );
    } catch (err) {
      if (ctx.signal?.aborted) throw err;
      throw new InternalError(`copying layer "${layer}" for container "${ctx.containerId}" failed`, { cause: err });
    }
  }
}

export const copyBackend: Backend = {
  name: 'copy',
  mountsAtProvision: false,

  async validate(layerDirs) {
    if (layerDirs.length === 0) throw new FailedPreconditionError('an image without layers cannot be provisioned');
  },

  async provision(ctx) {
    await copyLayers(ctx);
    return { writableDir: ctx.rootfs };
  },

  // A plain directory survives reboots.
  async remount() {
    return false;
  },
};
