/**
 * Layers: an ordered list of tar entries, written with tar-stream exactly as declared (owner 0:0 unless told,
 * fixed mtimes) so two builds of the same layer give the same bytes and therefore the same digests.
 * Whiteouts follow the OCI/AUFS convention: `.wh.<name>` hides `<name>` of a lower layer, `.wh..wh..opq` makes a
 * directory opaque.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { type Header, type Pack, pack as tarPack } from 'tar-stream';
import { FailedPreconditionError, InternalError, InvalidArgumentError } from '../../pkg/util/index.js';
import type { BlobStore } from './blob-store.js';

/** How a layer blob is compressed. */
export type Compression = 'gzip' | 'zstd' | 'none';

/** The fixed timestamp of every entry and history item unless a spec says otherwise (reproducible builds). */
export const FIXED_TIME = new Date('2024-01-01T00:00:00Z');

/** Content of a regular file: bytes, or a sized stream for large generated data. */
export type FileContent = string | Uint8Array | { size: number; chunks: () => AsyncIterable<Uint8Array> };

/** Ownership, mode and mtime of one entry. */
export interface EntryOptions {
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
}

/** One tar entry of a layer; paths are relative, without a leading slash. */
export type LayerEntry =
  | ({ kind: 'dir'; path: string } & Required<EntryOptions>)
  | ({ kind: 'file'; path: string; content: FileContent } & Required<EntryOptions>)
  | ({ kind: 'symlink'; path: string; target: string } & Required<EntryOptions>)
  | ({ kind: 'hardlink'; path: string; target: string } & Required<EntryOptions>);

/** Options of a whole layer. */
export interface LayerOptions {
  compression?: Compression;
  /** The history `created_by` text of this layer. */
  createdBy?: string;
}

/**
 * A layer under construction. Parent directories that were not declared are added (0755, root) before their
 * first child, so simple extractors never meet a path whose parent is missing. Declare a directory first to
 * give it another mode (e.g. `tmp` 1777). A path may be declared only once per layer.
 */
export class Layer {
  readonly entries: LayerEntry[] = [];
  readonly compression: Compression;
  readonly createdBy: string;
  private readonly declared = new Set<string>();

  constructor(opts: LayerOptions = {}) {
    this.compression = opts.compression ?? 'gzip';
    this.createdBy = opts.createdBy ?? 'ucri hack/images';
  }

  /** Adds a directory. */
  dir(p: string, opts: EntryOptions = {}): this {
    return this.add({ kind: 'dir', path: normalise(p), ...withDefaults(opts, 0o755) });
  }

  /** Adds a regular file. */
  file(p: string, content: FileContent, opts: EntryOptions = {}): this {
    return this.add({ kind: 'file', path: normalise(p), content, ...withDefaults(opts, 0o644) });
  }

  /** Adds a symlink; `target` is stored verbatim (absolute or relative). */
  symlink(p: string, target: string, opts: EntryOptions = {}): this {
    return this.add({ kind: 'symlink', path: normalise(p), target, ...withDefaults(opts, 0o777) });
  }

  /** Adds a hard link to `target`, a path declared earlier in this same layer. */
  hardlink(p: string, target: string, opts: EntryOptions = {}): this {
    const t = normalise(target);
    const prior = this.entries.find((e) => e.path === t);
    if (prior?.kind !== 'file') {
      throw new InvalidArgumentError(`hardlink "${p}": target "${target}" is not a file of this layer`);
    }
    return this.add({ kind: 'hardlink', path: normalise(p), target: t, ...withDefaults(opts, prior.mode) });
  }

  /** Hides `p` (a path of a lower layer) with a `.wh.<name>` entry. */
  whiteout(p: string): this {
    const n = normalise(p);
    return this.file(path.posix.join(path.posix.dirname(n), `.wh.${path.posix.basename(n)}`), '', { mode: 0o600 });
  }

  /** Makes directory `dir` opaque: lower layers' content of it is hidden. */
  opaque(dir: string): this {
    return this.file(path.posix.join(normalise(dir), '.wh..wh..opq'), '', { mode: 0o600 });
  }

  private add(entry: LayerEntry): this {
    if (this.declared.has(entry.path)) throw new InvalidArgumentError(`path "${entry.path}" declared twice`);
    const parts = entry.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (this.declared.has(parent)) continue;
      this.declared.add(parent);
      this.entries.push({ kind: 'dir', path: parent, ...withDefaults({}, 0o755) });
    }
    this.declared.add(entry.path);
    this.entries.push(entry);
    return this;
  }
}

function withDefaults(opts: EntryOptions, mode: number): Required<EntryOptions> {
  return { mode: opts.mode ?? mode, uid: opts.uid ?? 0, gid: opts.gid ?? 0, mtime: opts.mtime ?? FIXED_TIME };
}

function normalise(p: string): string {
  const rel = p.replace(/^\/+/, '').replace(/\/+$/, '');
  const parts = rel.split('/');
  if (rel === '' || parts.some((s) => s === '' || s === '.' || s === '..')) {
    throw new InvalidArgumentError(`invalid layer path "${p}"`);
  }
  return rel;
}

/** A layer once written: its blob digest (compressed) and diff_id (uncompressed), both in the store. */
export interface BuiltLayer {
  digest: string;
  size: number;
  diffId: string;
  diffSize: number;
  compression: Compression;
  createdBy: string;
}

/** Writes a layer into the store: the uncompressed tar first (diff_id), then its compressed blob (digest). */
export async function buildLayer(store: BlobStore, layer: Layer, signal?: AbortSignal): Promise<BuiltLayer> {
  signal?.throwIfAborted();
  const diff = await store.putIterable('diff', packEntries(layer.entries, signal));
  const diffPath = store.path('diff', diff.digest);
  let blob: { digest: string; size: number } | undefined;
  switch (layer.compression) {
    case 'none':
      blob = await store.diffAsBlob(diff.digest);
      break;
    case 'gzip':
      await pipeline(
        createReadStream(diffPath),
        createGzip({ level: 6 }),
        async (src: AsyncIterable<Uint8Array>) => {
          blob = await store.putIterable('blob', src);
        },
        { signal },
      );
      break;
    case 'zstd':
      blob = await zstd(store, diffPath, signal);
      break;
  }
  if (!blob) throw new InternalError(`layer compression "${String(layer.compression)}" produced nothing`);
  return {
    digest: blob.digest,
    size: blob.size,
    diffId: diff.digest,
    diffSize: diff.size,
    compression: layer.compression,
    createdBy: layer.createdBy,
  };
}

type TarHeader = Partial<Header> & Pick<Header, 'name'>;

/** Streams a tar of `entries`; a failure while packing surfaces as an error of the returned iterable. */
export function packEntries(entries: readonly LayerEntry[], signal?: AbortSignal): AsyncIterable<Uint8Array> {
  const pack = tarPack();
  const fill = async (): Promise<void> => {
    for (const e of entries) {
      signal?.throwIfAborted();
      await addEntry(pack, e);
    }
    pack.finalize();
  };
  fill().catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
  // streamx readables are async iterable at run time; their typings leave it out.
  return pack as unknown as AsyncIterable<Uint8Array>;
}

async function addEntry(pack: Pack, e: LayerEntry): Promise<void> {
  const base = { name: e.path, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, uname: '', gname: '' };
  if (e.kind === 'file' && typeof e.content === 'object' && !(e.content instanceof Uint8Array)) {
    await writeStreamed(pack, { ...base, type: 'file', size: e.content.size }, e.content.chunks());
    return;
  }
  let header: TarHeader;
  let body: Buffer | undefined;
  switch (e.kind) {
    case 'dir':
      header = { ...base, type: 'directory' };
      break;
    case 'file':
      body = typeof e.content === 'string' ? Buffer.from(e.content) : Buffer.from(e.content as Uint8Array);
      header = { ...base, type: 'file', size: body.byteLength };
      break;
    case 'symlink':
      header = { ...base, type: 'symlink', linkname: e.target };
      break;
    case 'hardlink':
      header = { ...base, type: 'link', linkname: e.target };
      break;
  }
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (body) pack.entry(header, body, done);
    else pack.entry(header, done);
  });
}

async function writeStreamed(pack: Pack, header: TarHeader, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  let sink!: ReturnType<Pack['entry']>;
  const finished = new Promise<void>((resolve, reject) => {
    sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
  });
  for await (const chunk of chunks) {
    if (!sink.write(chunk)) await new Promise<void>((resolve) => sink.once('drain', () => resolve()));
  }
  sink.end(null);
  await finished;
}

async function zstd(
  store: BlobStore,
  diffPath: string,
  signal?: AbortSignal,
): Promise<{ digest: string; size: number }> {
  const child = spawn('zstd', ['-q', '-c', '-3', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'], signal });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-2000);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new FailedPreconditionError('zstd not found: install the Debian package "zstd"', { cause: err })
          : err,
      ),
    );
    child.once('close', (code) => resolve(code));
  });
  const [exit, stored, fed] = await Promise.allSettled([
    exited,
    store.putIterable('blob', child.stdout),
    pipeline(createReadStream(diffPath), child.stdin),
  ]);
  // The exit status explains a failure better than the EPIPE the two streams then see, so it is checked first.
  if (exit.status === 'rejected') throw exit.reason;
  if (exit.value !== 0) throw new InternalError(`zstd exited with ${String(exit.value)}: ${stderr.trim()}`);
  if (stored.status === 'rejected') throw stored.reason;
  if (fed.status === 'rejected') throw fed.reason;
  return stored.value;
}
