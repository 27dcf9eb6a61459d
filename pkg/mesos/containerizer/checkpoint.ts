/**
 * CheckpointContainer and restore (CRIU through the OCI runtime). A checkpoint archive is an uncompressed tar:
 *
 *   config.dump       { version, kind: "ucri-checkpoint", containerId, image: { id, ref }, spec }  (JSON)
 *   spec.dump         the container's OCI runtime spec (config.json)
 *   checkpoint/       CRIU images (`runc checkpoint --image-path`): inventory.img and runc's descriptors.json among them
 *   rootfs-diff.tar   the writable layer's files, dirs and symlinks (overlay whiteouts left out)
 *   deleted.json      { deleted: [...], opaque: [...] }: image paths the container deleted, and dirs it replaced
 *
 * Checkpoint: `runc checkpoint --leave-running` into a scratch dir inside the container's bundle (removed
 * with the bundle, so a crash leaves nothing outside ucri's dirs but the `.tmp` sibling of the archive), then
 * the tar is written next to `location` and renamed onto it.
 *
 * Restore: CreateContainer with the archive's path as its image. The archive is listed and checked first
 * (only regular files and dirs, only the names above, no `..`): a bad one is InvalidArgument. The rootfs is
 * provisioned from the recorded image, the layer changes applied (never through a symlink), the CRIU images
 * extracted into the bundle, and StartContainer runs `runc restore` under conmon instead of create + start.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as z from 'zod/mini';
import { run } from '../../sys/index.js';
import {
  FailedPreconditionError,
  fromAbort,
  InvalidArgumentError,
  NotFoundError,
  writeFileAtomic,
} from '../../util/index.js';
import { type Engine, getContainer, log } from './engine.js';
import type { Container } from './records.js';

const TOP_FILES = new Set(['config.dump', 'spec.dump', 'rootfs-diff.tar', 'deleted.json']);
const MAX_DUMP_BYTES = 4 * 1024 * 1024;

const configDump = z.object({
  version: z.literal(1),
  kind: z.literal('ucri-checkpoint'),
  containerId: z.string(),
  image: z.object({ id: z.string().check(z.regex(/^sha256:[0-9a-f]{64}$/)), ref: z.string() }),
  spec: z.looseObject({}),
});

const deletedDump = z.object({ deleted: z.array(z.string()), opaque: z.array(z.string()) });

/** What a valid checkpoint archive recorded. */
export interface CheckpointInfo {
  containerId: string;
  image: { id: string; ref: string };
}

/** The restore directory inside a container's bundle (the archive extracted). */
export function restoreDir(c: Container): string {
  return path.join(c.bundle, 'restore');
}

/** Writes a checkpoint archive of a running container at `location` (absolute; its dir must exist). */
export async function checkpointContainer(
  e: Engine,
  id: string,
  opts: { location: string; leaveRunning: boolean },
  signal: AbortSignal,
): Promise<void> {
  const target = path.resolve(opts.location);
  if (!path.isAbsolute(opts.location)) throw new InvalidArgumentError(`location "${opts.location}" is not absolute`);
  const st = await fs.stat(path.dirname(target)).catch(() => undefined);
  if (!st?.isDirectory()) throw new InvalidArgumentError(`directory of location "${opts.location}" does not exist`);
  await e.lock.run(id, async () => {
    const c = getContainer(e, id);
    if (c.rec.state !== 'RUNNING' || c.rec.termination || !c.rec.launched) {
      throw new FailedPreconditionError(`container "${id}" is not running`);
    }
    const work = path.join(c.bundle, `checkpoint-${randomBytes(6).toString('hex')}`);
    const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await fs.mkdir(path.join(work, 'checkpoint'), { recursive: true, mode: 0o700 });
      await e.launcher.checkpoint(
        id,
        {
          imagePath: path.join(work, 'checkpoint'),
          workPath: path.join(work, 'criu'),
          leaveRunning: opts.leaveRunning,
        },
        signal,
      );
      const dump = { version: 1, kind: 'ucri-checkpoint', containerId: id, image: c.rec.spec.image, spec: c.rec.spec };
      await fs.writeFile(path.join(work, 'config.dump'), JSON.stringify(dump, bigints));
      await fs.writeFile(path.join(work, 'spec.dump'), JSON.stringify(c.rec.oci));
      const names = ['config.dump', 'spec.dump', 'checkpoint'];
      const writable = (await e.provisioner.get(id))?.writableDir;
      if (writable) {
        await writeRootfsDiff(writable, work, signal);
        names.push('rootfs-diff.tar', 'deleted.json');
      }
      await run('tar', ['--force-local', '--numeric-owner', '-cf', tmp, '-C', work, '--', ...names], { signal });
      await fs.rename(tmp, target);
      log.info({ id, location: target }, 'container checkpointed');
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw fromAbort(err, signal);
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  });
}

function bigints(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

/** The writable layer as `rootfs-diff.tar` + `deleted.json` in `work` (overlay whiteouts → deleted paths). */
export async function writeRootfsDiff(upper: string, work: string, signal: AbortSignal): Promise<void> {
  const keep: string[] = [];
  const deleted: string[] = [];
  const stack = [''];
  while (stack.length > 0) {
    const rel = stack.pop() as string;
    for (const d of await fs.readdir(path.join(upper, rel), { withFileTypes: true })) {
      const r = rel === '' ? d.name : `${rel}/${d.name}`;
      if (d.isCharacterDevice() && (await fs.lstat(path.join(upper, r))).rdev === 0) {
        deleted.push(r);
        continue;
      }
      keep.push(r);
      if (d.isDirectory()) stack.push(r);
    }
  }
  const opaque = await opaqueDirs(upper, signal);
  await writeFileAtomic(path.join(work, 'deleted.json'), JSON.stringify({ deleted, opaque }));
  await run(
    'tar',
    [
      '--force-local',
      '--numeric-owner',
      '--no-recursion',
      '--null',
      '-cf',
      path.join(work, 'rootfs-diff.tar'),
      '-C',
      upper,
      '-T',
      '-',
    ],
    { signal, stdin: keep.map((k) => `${k}\0`).join('') },
  );
}

/** Dirs of an overlay upper dir marked opaque (they replace the image's dir of that name). */
async function opaqueDirs(upper: string, signal: AbortSignal): Promise<string[]> {
  const r = await run('getfattr', ['-R', '--absolute-names', '-n', 'trusted.overlay.opaque', upper], {
    signal,
    allowFailure: true,
  });
  const out: string[] = [];
  let file = '';
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('# file: ')) file = line.slice(8);
    else if (line.startsWith('trusted.overlay.opaque="y"') && file.startsWith(`${upper}/`)) {
      out.push(file.slice(upper.length + 1));
    }
  }
  return out;
}

interface Entry {
  type: string;
  name: string;
}

/** `tar -tv` of an archive: entry types and names; InvalidArgument when it is no tar. */
async function listTar(file: string, what: string, signal: AbortSignal): Promise<Entry[]> {
  const r = await run('tar', ['--force-local', '--numeric-owner', '-tvf', file], {
    signal,
    allowFailure: true,
    maxStdout: 64 << 20,
  });
  if (r.code !== 0) {
    throw new InvalidArgumentError(`${what} "${file}" is not a tar archive: ${r.stderr.trim().split('\n')[0] ?? ''}`);
  }
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      // `-rw-r--r-- 0/0 12 2026-12-05 05:30 name[ -> target]`
      const f = l.split(/\s+/);
      const rest = f.slice(5).join(' ');
      const type = l[0] ?? '?';
      return { type, name: type === 'l' ? (rest.split(' -> ')[0] ?? '') : rest };
    });
}

function cleanName(n: string): string | undefined {
  const s = n.replace(/^\.\//, '').replace(/\/$/, '');
  if (s === '' || s.startsWith('/') || s.split('/').some((c) => c === '..' || c === '.' || c === '')) return undefined;
  return s;
}

/**
 * Validates a checkpoint archive and reads what it recorded. NotFound when the file does not exist;
 * InvalidArgument when it is not a ucri checkpoint archive or holds anything but what one holds.
 */
export async function inspectCheckpoint(archive: string, signal: AbortSignal): Promise<CheckpointInfo> {
  if (!path.isAbsolute(archive)) throw new InvalidArgumentError(`checkpoint archive "${archive}" is not absolute`);
  const st = await fs.stat(archive).catch(() => undefined);
  if (!st) throw new NotFoundError(`checkpoint archive "${archive}" not found`);
  if (!st.isFile()) throw new InvalidArgumentError(`checkpoint archive "${archive}" is not a file`);
  const entries = await listTar(archive, 'checkpoint archive', signal);
  const names = new Set<string>();
  for (const e of entries) {
    const n = cleanName(e.name);
    const ok =
      n !== undefined &&
      ((e.type === '-' && (TOP_FILES.has(n) || /^checkpoint\/[^/]+$/.test(n))) ||
        (e.type === 'd' && n === 'checkpoint'));
    if (!ok) throw new InvalidArgumentError(`checkpoint archive "${archive}" holds an unexpected entry "${e.name}"`);
    names.add(n);
  }
  for (const need of ['config.dump', 'spec.dump', 'checkpoint/inventory.img', 'checkpoint/descriptors.json']) {
    if (!names.has(need)) throw new InvalidArgumentError(`checkpoint archive "${archive}" has no ${need}`);
  }
  const r = await run('tar', ['--force-local', '-xOf', archive, 'config.dump'], { signal, maxStdout: MAX_DUMP_BYTES });
  let parsed: z.infer<typeof configDump>;
  try {
    parsed = configDump.parse(JSON.parse(r.stdout));
  } catch (err) {
    throw new InvalidArgumentError(`checkpoint archive "${archive}" has an invalid config.dump`, { cause: err });
  }
  return { containerId: parsed.containerId, image: parsed.image };
}

/**
 * CreateContainer of a restore, after provisioning: the archive (validated again, it may have changed) is
 * extracted into `dir` (the bundle's restore dir) and its layer changes applied to `rootfs`: deleted and
 * replaced paths removed, then the diff extracted, none of it through a symlink of the image or the diff.
 * Failure: the caller's rollback removes the bundle and the rootfs.
 */
export async function prepareRestore(archive: string, dir: string, rootfs: string, signal: AbortSignal) {
  await inspectCheckpoint(archive, signal);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await run('tar', ['--force-local', '--numeric-owner', '-xf', archive, '-C', dir], { signal });
  const diff = path.join(dir, 'rootfs-diff.tar');
  if (!(await fs.stat(diff).catch(() => undefined))) return;
  const raw = JSON.parse(await fs.readFile(path.join(dir, 'deleted.json'), 'utf8').catch(() => '{}')) as unknown;
  const dump = deletedDump.safeParse(raw);
  if (!dump.success) throw new InvalidArgumentError(`checkpoint archive "${archive}" has an invalid deleted.json`);
  const entries = await listTar(diff, 'rootfs diff of', signal);
  const links = new Set(entries.filter((e) => e.type === 'l').map((e) => cleanName(e.name)));
  const check = async (n: string | undefined, raw: string): Promise<string> => {
    if (n === undefined) throw new InvalidArgumentError(`checkpoint archive "${archive}": bad path "${raw}"`);
    const parts = n.split('/');
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      const st = await fs.lstat(path.join(rootfs, prefix)).catch(() => undefined);
      if (links.has(prefix) || st?.isSymbolicLink()) {
        throw new InvalidArgumentError(`checkpoint archive "${archive}": "${raw}" lies below a symlink`);
      }
    }
    return n;
  };
  for (const e of entries) {
    if (!['-', 'd', 'l', 'h'].includes(e.type)) {
      throw new InvalidArgumentError(
        `checkpoint archive "${archive}": unexpected entry "${e.name}" in the rootfs diff`,
      );
    }
    await check(cleanName(e.name), e.name);
  }
  for (const p of [...dump.data.opaque, ...dump.data.deleted]) {
    const n = await check(cleanName(p), p);
    await fs.rm(path.join(rootfs, n), { recursive: true, force: true });
  }
  await run('tar', ['--force-local', '--numeric-owner', '-xpf', diff, '-C', rootfs], { signal });
}
