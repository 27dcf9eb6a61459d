/**
 * The content-addressed scratch store of one build. Every blob is written to a temp file while its sha256 is
 * computed, then renamed to its digest, so a crashed or failed build never leaves a blob under a wrong name.
 *
 *   <root>/
 *     blobs/sha256/<hex>   compressed layers, configs and manifests: what a registry or an OCI layout serves
 *     diffs/sha256/<hex>   uncompressed layer tars named by diff_id: what a `docker save` archive ships
 *     tmp/                 partial writes
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, writeFileAtomic } from '../../pkg/util/index.js';

/** A blob that is in the store: its `sha256:<hex>` digest and its size in bytes. */
export interface StoredBlob {
  digest: string;
  size: number;
}

/** Which half of the store a blob belongs to. */
export type BlobKind = 'blob' | 'diff';

const DIGEST_RE = /^sha256:([a-f0-9]{64})$/;

/** The sha256 digest (`sha256:<hex>`) of some bytes. */
export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The hex part of a `sha256:<hex>` digest; throws InvalidArgumentError on anything else. */
export function digestHex(digest: string): string {
  const m = DIGEST_RE.exec(digest);
  if (!m?.[1]) throw new InvalidArgumentError(`invalid digest "${digest}"`);
  return m[1];
}

/** A content-addressed store rooted at one directory; see the file header for its layout. */
export class BlobStore {
  constructor(readonly root: string) {}

  /** Creates the store's directories (idempotent). */
  async init(): Promise<void> {
    for (const kind of ['blobs', 'diffs']) await fs.mkdir(path.join(this.root, kind, 'sha256'), { recursive: true });
    await fs.mkdir(path.join(this.root, 'tmp'), { recursive: true });
  }

  /** Path of a blob by digest (it may not exist). */
  path(kind: BlobKind, digest: string): string {
    return path.join(this.root, kind === 'blob' ? 'blobs' : 'diffs', 'sha256', digestHex(digest));
  }

  /** True when the blob is present. */
  async has(kind: BlobKind, digest: string): Promise<boolean> {
    try {
      await fs.access(this.path(kind, digest));
      return true;
    } catch {
      return false;
    }
  }

  /** Stores small content (configs, manifests) in one go. */
  async putBytes(kind: BlobKind, data: Uint8Array | string): Promise<StoredBlob> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const digest = sha256Digest(bytes);
    const file = this.path(kind, digest);
    if (!(await this.has(kind, digest))) await writeFileAtomic(file, bytes, 0o644);
    return { digest, size: bytes.byteLength };
  }

  /**
   * Stores a stream of chunks, hashing as it writes; the blob appears under its digest only once the stream has
   * ended without error. The temp file is removed on failure.
   */
  async putIterable(kind: BlobKind, source: AsyncIterable<Uint8Array>): Promise<StoredBlob> {
    const tmp = path.join(this.root, 'tmp', `${kind}-${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const fh = await fs.open(tmp, 'wx', 0o644);
    try {
      for await (const chunk of source) {
        hash.update(chunk);
        size += chunk.byteLength;
        await fh.write(chunk);
      }
    } catch (err) {
      await fh.close();
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await fh.close();
    const digest = `sha256:${hash.digest('hex')}`;
    await fs.rename(tmp, this.path(kind, digest));
    return { digest, size };
  }

  /** Makes a diff (uncompressed tar) also available as a blob, for layers that ship uncompressed. */
  async diffAsBlob(diffId: string): Promise<StoredBlob> {
    const target = this.path('blob', diffId);
    if (!(await this.has('blob', diffId))) {
      const tmp = path.join(this.root, 'tmp', `link-${randomBytes(8).toString('hex')}`);
      await fs.link(this.path('diff', diffId), tmp);
      await fs.rename(tmp, target);
    }
    const st = await fs.stat(target);
    return { digest: diffId, size: st.size };
  }

  /** Reads a stored blob (for small blobs such as configs and manifests). */
  async read(kind: BlobKind, digest: string): Promise<Buffer> {
    return fs.readFile(this.path(kind, digest));
  }
}
