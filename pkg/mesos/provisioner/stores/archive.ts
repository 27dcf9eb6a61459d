/**
 * Read access to image archives without unpacking them: a tar file (a `docker save` archive or an OCI
 * archive) or a directory (an OCI image layout). Small members are read whole; a layer member is streamed
 * by scanning the tar to it, so a layer is never copied to disk before extraction.
 */
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { extract as tarExtract } from 'tar-stream';
import { InvalidArgumentError, NotFoundError } from '../../../util/index.js';

/** Members bigger than this are not kept in memory by `small()`. */
const SMALL = 4 << 20;

export interface ArchiveSource {
  /** Human-readable origin for messages. */
  readonly where: string;
  /** A small member, whole; undefined when absent. */
  read(name: string): Promise<Buffer | undefined>;
  /** Streams a member; NotFoundError when absent. */
  open(name: string, signal?: AbortSignal): Promise<Readable>;
  /** Size of a member; undefined when absent. */
  size(name: string): Promise<number | undefined>;
}

/** `./a//b` → `a/b`: tar writers differ in how they spell member names. */
function clean(name: string): string {
  return path.posix
    .normalize(name)
    .replace(/^(\.\/)+/, '')
    .replace(/\/+$/, '');
}

/** An OCI image layout directory. Names are relative paths inside it and may not leave it. */
export class DirSource implements ArchiveSource {
  constructor(readonly where: string) {}

  private resolve(name: string): string {
    const rel = clean(name);
    if (rel.startsWith('..') || path.isAbsolute(rel))
      throw new InvalidArgumentError(`member "${name}" leaves "${this.where}"`);
    return path.join(this.where, rel);
  }

  async read(name: string): Promise<Buffer | undefined> {
    const st = await this.stat(name);
    if (!st) return undefined;
    if (st.size > SMALL) throw new InvalidArgumentError(`"${name}" in "${this.where}" is too large`);
    return fs.readFile(this.resolve(name));
  }

  async open(name: string): Promise<Readable> {
    if (!(await this.stat(name))) throw new NotFoundError(`"${name}" not found in "${this.where}"`);
    return createReadStream(this.resolve(name));
  }

  async size(name: string): Promise<number | undefined> {
    return (await this.stat(name))?.size;
  }

  private async stat(name: string) {
    try {
      const st = await fs.stat(this.resolve(name));
      return st.isFile() ? st : undefined;
    } catch {
      return undefined;
    }
  }
}

/** A tar archive: one scan indexes member sizes and keeps small members; layers are streamed on demand. */
export class TarSource implements ArchiveSource {
  private scanned: Promise<{ sizes: Map<string, number>; small: Map<string, Buffer> }> | undefined;

  constructor(readonly where: string) {}

  private scan(signal?: AbortSignal) {
    this.scanned ??= (async () => {
      const sizes = new Map<string, number>();
      const small = new Map<string, Buffer>();
      const ex = tarExtract();
      const input = createReadStream(this.where, signal ? { signal } : {});
      input.on('error', (err) => ex.destroy(err));
      input.pipe(ex);
      try {
        for await (const entry of ex) {
          const h = entry.header;
          const name = clean(h.name);
          if (h.type !== 'file') {
            entry.resume();
            continue;
          }
          sizes.set(name, h.size ?? 0);
          if ((h.size ?? 0) <= SMALL && !name.endsWith('layer.tar')) {
            const chunks: Buffer[] = [];
            for await (const c of entry) chunks.push(c as Buffer);
            small.set(name, Buffer.concat(chunks));
          } else entry.resume();
        }
      } catch (err) {
        throw new InvalidArgumentError(`"${this.where}" is not a readable tar archive`, { cause: err });
      }
      return { sizes, small };
    })();
    return this.scanned;
  }

  async read(name: string): Promise<Buffer | undefined> {
    return (await this.scan()).small.get(clean(name));
  }

  async size(name: string): Promise<number | undefined> {
    return (await this.scan()).sizes.get(clean(name));
  }

  async open(name: string, signal?: AbortSignal): Promise<Readable> {
    const want = clean(name);
    if (!(await this.scan(signal)).sizes.has(want)) throw new NotFoundError(`"${name}" not found in "${this.where}"`);
    const out = new PassThrough();
    const ex = tarExtract();
    const input = createReadStream(this.where, signal ? { signal } : {});
    let found = false;
    const stop = (): void => {
      input.destroy();
      ex.destroy();
    };
    input.on('error', (err) => out.destroy(err));
    ex.on('error', (err) => out.destroy(err));
    ex.on('entry', (h, stream, next) => {
      if (found || h.type !== 'file' || clean(h.name) !== want) {
        stream.on('end', next);
        stream.resume();
        return;
      }
      found = true;
      stream.pipe(out);
      stream.on('end', stop);
    });
    ex.on('finish', () => {
      if (!found) out.destroy(new NotFoundError(`"${name}" not found in "${this.where}"`));
    });
    out.on('close', stop);
    input.pipe(ex);
    return out;
  }
}

/** Opens a path as an archive source: a directory or a tar file; undefined when it does not exist. */
export async function openArchive(p: string): Promise<ArchiveSource | undefined> {
  try {
    const st = await fs.stat(p);
    if (st.isDirectory()) return new DirSource(p);
    if (st.isFile()) return new TarSource(p);
  } catch {
    // absent
  }
  return undefined;
}
