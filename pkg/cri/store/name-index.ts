/**
 * Reserved names of pods (`<name>_<namespace>_<uid>_<attempt>`) and containers
 * (`<name>_<pod id>_<attempt>`), as kubelet guarantees them unique.
 *
 * A name is reserved while a record with that name exists, and while a create for it is in flight. The
 * reservation remembers a fingerprint of the request that made it, so a retry of the same request (kubelet
 * after a client-side timeout) can be told apart from a different request that reuses the name:
 *
 *   reserve(name) ──► in flight ──ok──► held by the record ──record removed──► free
 *                        │
 *                        └──failed──► free (the caller's rollback released it)
 *
 * A retry that finds the name in flight waits for that attempt (`pending`), then looks again.
 */
import { RecordStore } from './record-store.js';

export interface Reservation {
  /** The id the name is (being) given to. */
  id: string;
  /** Fingerprint of the request that reserved it (see requestFingerprint). */
  fingerprint: string;
  /** Set while the create is in flight: resolves when it has succeeded or has been rolled back. */
  pending: Promise<void> | undefined;
}

export class NameIndex {
  private readonly names = new Map<string, Reservation>();

  /** The reservation of `name`, if any. */
  get(name: string): Reservation | undefined {
    return this.names.get(name);
  }

  /**
   * Reserves `name` for `id` unless it is taken; returns the holder's reservation when taken (the caller
   * decides: wait, return the same id, or refuse), undefined when the name is now the caller's.
   */
  reserve(name: string, res: Reservation): Reservation | undefined {
    const cur = this.names.get(name);
    if (cur) return cur;
    this.names.set(name, res);
    return undefined;
  }

  /**
   * Reserves a free `name` for an in-flight create of `id`, with a `pending` promise that retries wait on.
   * Returns the function that ends the in-flight phase; call it once the create succeeded or was rolled back.
   */
  claim(name: string, id: string, fingerprint: string): () => void {
    let finish!: () => void;
    const pending = new Promise<void>((resolve) => {
      finish = resolve;
    });
    this.names.set(name, { id, fingerprint, pending });
    return finish;
  }

  /** Marks the create of `name` as finished (the record now holds the name). */
  settle(name: string, id: string): void {
    const cur = this.names.get(name);
    if (cur?.id === id) cur.pending = undefined;
  }

  /** Frees `name` if `id` holds it (never frees a name someone else reserved meanwhile). */
  release(name: string, id: string): void {
    if (this.names.get(name)?.id === id) this.names.delete(name);
  }
}

/** Metadata that carries a reserved name. */
export interface NamedMeta {
  id: string;
  name: string;
  fingerprint: string;
}

/**
 * A record store whose records hold names: loading reserves every record's name, removing a record frees
 * its name. Sandboxes and containers both build on it.
 */
export class NamedRecordStore<M extends NamedMeta, S> extends RecordStore<M, S> {
  readonly names = new NameIndex();

  /** Loads the checkpoints and reserves the name of every record. */
  override async load(): Promise<void> {
    await super.load();
    for (const r of this.list()) {
      this.names.reserve(r.meta.name, { id: r.meta.id, fingerprint: r.meta.fingerprint, pending: undefined });
    }
  }

  /** Removes the record and frees its name. */
  override async remove(id: string): Promise<void> {
    const rec = this.get(id);
    await super.remove(id);
    if (rec) this.names.release(rec.meta.name, id);
  }
}
