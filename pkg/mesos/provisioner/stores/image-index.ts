/**
 * The image index (`images.json`): every stored image by id, the names (repo tags and repo digests) that
 * point at them, and the leases containers hold. One JSON document, rewritten atomically after each change,
 * so a crash leaves the previous or the next state, never a mix. The store serializes mutations (one lock);
 * reads are served from memory.
 *
 * A name points at exactly one image. Pointing it at another image (a moved tag) takes it from the old one,
 * which keeps its other names. An image with no names left is deleted, unless a lease holds it: it then stays,
 * hidden from get/list, until the last lease ends.
 *
 * Records are frozen and shared: a change replaces an image's record with a new frozen one, never edits it, and
 * bumps `version`. Readers (the store's views, the CRI Image messages built from them, ListImages' list) may
 * keep what they derived from a record for as long as they hold that record, or the version they built it at.
 */
import * as z from 'zod/mini';
import type { ImageRecord } from '../../../containerizer/index.js';
import { InternalError, readJson, writeJsonAtomic } from '../../../util/index.js';

/** An image as the index stores it: the CRI record plus what the store needs to keep its content. */
export interface StoredImage extends ImageRecord {
  /** Blobs (manifests, index, config, ACI manifest) kept under blobs/ for this image. */
  blobs: string[];
  /** Compressed layer digests, base first (empty for local and appc images). */
  layerDigests: string[];
  /** Where it came from: a registry endpoint, a file path or an ACI URL (verbose info). */
  source: string;
}

const recordSchema = z.object({
  id: z.string(),
  repoTags: z.array(z.string()),
  repoDigests: z.array(z.string()),
  size: z.number(),
  config: z.object({
    entrypoint: z.array(z.string()),
    cmd: z.array(z.string()),
    env: z.array(z.string()),
    workingDir: z.string(),
    user: z.string(),
    exposedPorts: z.array(z.string()),
    volumes: z.array(z.string()),
    labels: z.record(z.string(), z.string()),
    stopSignal: z.string(),
  }),
  kind: z.enum(['docker', 'appc']),
  pinned: z.boolean(),
  layers: z.array(z.string()),
  manifestDigest: z.string(),
  pulledAt: z.number(),
  blobs: z.array(z.string()),
  layerDigests: z.array(z.string()),
  source: z.string(),
});

const fileSchema = z.object({
  version: z.literal(1),
  images: z.record(z.string(), recordSchema),
  leases: z.record(z.string(), z.string()),
});

export class ImageIndex {
  private images = new Map<string, StoredImage>();
  private names = new Map<string, string>();
  private leases = new Map<string, string>();
  private changes = 0;
  private visibleList: readonly StoredImage[] = [];
  private visibleAt = -1;

  constructor(private readonly file: string) {}

  /** Loads the index; a missing file is an empty store. InternalError when it cannot be read. */
  async load(): Promise<void> {
    const raw = await readJson(this.file).catch((err: unknown) => {
      throw new InternalError(`image index "${this.file}" is unreadable`, { cause: err });
    });
    const parsed = fileSchema.safeParse(raw ?? { version: 1, images: {}, leases: {} });
    if (!parsed.success) throw new InternalError(`image index "${this.file}" is invalid`, { cause: parsed.error });
    this.images = new Map(Object.entries(parsed.data.images).map(([id, img]) => [id, freezeImage(img)]));
    this.leases = new Map(Object.entries(parsed.data.leases));
    this.reindex();
    this.changes++;
  }

  /**
   * Bumped by every change to a record or a name (not by leases, which no reader sees): what a reader built from
   * the index at one version is still right while the version is the same.
   */
  get version(): number {
    return this.changes;
  }

  /** Persists the current state atomically. */
  async save(): Promise<void> {
    await writeJsonAtomic(this.file, {
      version: 1,
      images: Object.fromEntries(this.images),
      leases: Object.fromEntries(this.leases),
    });
  }

  private reindex(): void {
    this.names.clear();
    for (const img of this.images.values()) {
      for (const n of [...img.repoTags, ...img.repoDigests]) this.names.set(n, img.id);
    }
  }

  /** The image with this exact id (hidden ones included). */
  byId(id: string): StoredImage | undefined {
    return this.images.get(id);
  }

  /** The image a normalized name points at. */
  byName(name: string): StoredImage | undefined {
    const id = this.names.get(name);
    return id === undefined ? undefined : this.images.get(id);
  }

  /** Visible images whose id starts with `prefix` (`sha256:` optional). */
  byIdPrefix(prefix: string): StoredImage[] {
    const full = prefix.startsWith('sha256:') ? prefix : `sha256:${prefix}`;
    return this.visible().filter((i) => i.id.startsWith(full));
  }

  /** Images that have at least one name (what get/list show): a frozen list, shared until the next change. */
  visible(): readonly StoredImage[] {
    if (this.visibleAt !== this.changes) {
      this.visibleList = Object.freeze(
        [...this.images.values()].filter((i) => i.repoTags.length + i.repoDigests.length > 0),
      );
      this.visibleAt = this.changes;
    }
    return this.visibleList;
  }

  all(): StoredImage[] {
    return [...this.images.values()];
  }

  /**
   * Stores `img` (replacing a record of the same id, whose names are merged in) and points its names at it,
   * taking them from other images. Returns the ids of images left without names (candidates for deletion).
   */
  put(img: StoredImage): string[] {
    const old = this.images.get(img.id);
    const merged: StoredImage = freezeImage(
      old
        ? {
            ...img,
            repoTags: union(old.repoTags, img.repoTags),
            repoDigests: union(old.repoDigests, img.repoDigests),
            pinned: old.pinned || img.pinned,
            blobs: union(old.blobs, img.blobs),
          }
        : img,
    );
    const orphaned: string[] = [];
    for (const name of [...img.repoTags, ...img.repoDigests]) {
      const owner = this.names.get(name);
      if (owner !== undefined && owner !== img.id && this.dropName(owner, name)) orphaned.push(owner);
      this.names.set(name, img.id);
    }
    // A re-pull that changes nothing (kubelet's `Always` policy) keeps the record, and what readers built from it.
    if (old && JSON.stringify(old) === JSON.stringify(merged)) return orphaned;
    this.images.set(img.id, merged);
    this.changes++;
    return orphaned;
  }

  /** Removes one name; true when its image has no names left. */
  removeName(name: string): string | undefined {
    const owner = this.names.get(name);
    if (owner === undefined) return undefined;
    this.names.delete(name);
    this.dropName(owner, name);
    this.changes++;
    return owner;
  }

  /** Removes every name of an image (it stays while leased: the caller decides with `leased`). */
  removeNames(id: string): void {
    const img = this.images.get(id);
    if (!img) return;
    for (const n of [...img.repoTags, ...img.repoDigests]) this.names.delete(n);
    this.images.set(id, freezeImage({ ...img, repoTags: [], repoDigests: [] }));
    this.changes++;
  }

  /** Deletes the record (names included). */
  delete(id: string): void {
    this.removeNames(id);
    this.images.delete(id);
    this.changes++;
  }

  private dropName(id: string, name: string): boolean {
    const img = this.images.get(id);
    if (!img) return false;
    const next = freezeImage({
      ...img,
      repoTags: img.repoTags.filter((n) => n !== name),
      repoDigests: img.repoDigests.filter((n) => n !== name),
    });
    this.images.set(id, next);
    this.changes++;
    return next.repoTags.length + next.repoDigests.length === 0;
  }

  named(id: string): boolean {
    const img = this.images.get(id);
    return !!img && img.repoTags.length + img.repoDigests.length > 0;
  }

  leased(id: string): boolean {
    for (const v of this.leases.values()) if (v === id) return true;
    return false;
  }

  lease(owner: string): string | undefined {
    return this.leases.get(owner);
  }

  setLease(owner: string, id: string): void {
    this.leases.set(owner, id);
  }

  dropLease(owner: string): string | undefined {
    const id = this.leases.get(owner);
    this.leases.delete(owner);
    return id;
  }

  /** Every lease holder. */
  leaseOwners(): string[] {
    return [...this.leases.keys()];
  }

  /** Leases whose image is gone (a lost record): dropped at recovery. */
  danglingLeases(): string[] {
    return [...this.leases].filter(([, id]) => !this.images.has(id)).map(([owner]) => owner);
  }

  /** Diff ids any stored image refers to. */
  referencedLayers(): Set<string> {
    const out = new Set<string>();
    for (const img of this.images.values()) for (const l of img.layers) out.add(l);
    return out;
  }

  /** Blob digests any stored image refers to. */
  referencedBlobs(): Set<string> {
    const out = new Set<string>();
    for (const img of this.images.values()) for (const b of img.blobs) out.add(b);
    return out;
  }
}

/**
 * Freezes a record and everything in it (arrays, config): a record is shared by every reader, so writing to one
 * would change what they hold; in strict mode such a write throws instead. Takes a fresh object: the caller's
 * `img` is frozen in place.
 */
function freezeImage(img: StoredImage): StoredImage {
  const c = img.config;
  for (const a of [c.entrypoint, c.cmd, c.env, c.exposedPorts, c.volumes]) Object.freeze(a);
  Object.freeze(c.labels);
  Object.freeze(c);
  for (const a of [img.repoTags, img.repoDigests, img.layers, img.blobs, img.layerDigests]) Object.freeze(a);
  return Object.freeze(img);
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])];
}
