/**
 * The generic half of the sandbox and container stores: records made of immutable metadata and a mutable
 * status, one JSON checkpoint per record (`<dir>/<id>.json`, written with writeJsonAtomic), an in-memory map
 * that readers use without awaiting anything, and a name index.
 *
 * Status changes go through `update(id, fn)` only. Updates of one record are applied one after the other
 * (each sees the status the previous one produced), the checkpoint is written before memory changes, so a
 * reader never sees a status that a crash could lose (`memoryOnly`: a status that recovery rebuilds from the
 * one on disk).
 */
import { promises as fs } from 'node:fs';
import {
  DirSyncer,
  InvalidArgumentError,
  isTempName,
  joinPath,
  logger,
  NotFoundError,
  readJson,
  removeStaleTemps,
  unlinkIfPresentSync,
  writeJsonAtomic,
  writeJsonReplaceSync,
} from '../../util/index.js';

/**
 * How a checkpoint is written. `durable: false` renames it into place without the fsyncs (writeJsonReplaceSync):
 * the next daemon reads it after a crash of this one, but a power loss may leave the previous content or
 * none. Only for a record whose loss recovery makes good from elsewhere: a status the containerizer's own
 * durable record also holds (reconciled at start-up), or an intent whose effects the containerizer's own
 * recovery finds and undoes without it (docs/performance.md, phase 4). Default: durable.
 */
export interface WriteOptions {
  durable?: boolean;
  /**
   * Durable in one round: the checkpoint is renamed into place, then it and its directory are fsync'd at
   * once (instead of the file before the rename and the directory after it). The record is durable when the
   * write resolves, as with `durable`; a power loss during the round may leave the file torn, which load()
   * moves aside, so the record is then absent. Only for the first durable write of a record, whose earlier
   * versions were written with `durable: false`: losing those is already allowed (a RunPodSandbox that had
   * not answered, which recovery undoes as an orphan pod).
   */
  firstDurable?: boolean;
  /**
   * Changes the record in memory only; the file keeps the previous status. Only for a status that recovery
   * rebuilds from that previous one: a `creating` record whose container the containerizer recovered is
   * adopted as created (pkg/cri/runtime/recover.ts).
   */
  memoryOnly?: boolean;
}

/** A record as held in memory: both halves are frozen; a new status replaces the old object. */
export interface StoredRecord<M, S> {
  readonly meta: Readonly<M>;
  readonly status: Readonly<S>;
}

/** What the checkpoint file holds; `version` lets a later ucri migrate old records. */
interface RecordFile<M, S> {
  version: 1;
  meta: M;
  status: S;
}

/** How a store turns checkpoint JSON back into typed values (bigints were written as strings). */
export interface RecordCodec<M, S> {
  /** Short noun for error messages: `sandbox`, `container`. */
  kind: string;
  /** Rebuilds metadata from parsed JSON; throws on a record it cannot read. */
  decodeMeta(raw: unknown): M;
  decodeStatus(raw: unknown): S;
  /** The id of a record (taken from metadata). */
  id(meta: M): string;
}

const log = logger('cri/store');

/** Records keyed by id, checkpointed one file each under `dir`. */
export class RecordStore<M, S> {
  private readonly records = new Map<string, StoredRecord<M, S>>();
  private readonly chains = new Map<string, Promise<unknown>>();
  /** The records' directory, kept open for its fsyncs (removals, `sync`). */
  private readonly dirSync: DirSyncer;

  constructor(
    readonly dir: string,
    private readonly codec: RecordCodec<M, S>,
  ) {
    this.dirSync = new DirSyncer(dir);
  }

  /**
   * Reads every checkpoint in `dir` (after clearing interrupted temp files). A file that cannot be parsed is
   * moved aside as `<name>.corrupt` and logged, so one bad file never keeps the daemon from starting.
   */
  async load(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await removeStaleTemps(this.dir);
    for (const name of await fs.readdir(this.dir)) {
      if (!name.endsWith('.json') || isTempName(name)) continue;
      const file = joinPath(this.dir, name);
      try {
        const raw = (await readJson(file)) as Partial<RecordFile<unknown, unknown>> | undefined;
        if (raw === undefined) continue; // removed meanwhile
        if (raw.version !== 1) throw new Error(`unknown record version ${String(raw.version)}`);
        const meta = this.codec.decodeMeta(raw.meta);
        const status = this.codec.decodeStatus(raw.status);
        const id = this.codec.id(meta);
        if (`${id}.json` !== name) throw new Error(`record id "${id}" does not match its file name`);
        this.records.set(id, freeze({ meta, status }));
      } catch (err) {
        log.error({ err, file }, `unreadable ${this.codec.kind} record moved aside`);
        await fs.rename(file, `${file}.corrupt`).catch(() => undefined);
      }
    }
  }

  /**
   * Adds a new record, checkpointed before it becomes visible. The id must be new. With `durable: false` the
   * checkpoint is only renamed into place, not fsync'd (see WriteOptions).
   */
  async add(meta: M, status: S, opts: WriteOptions = {}): Promise<StoredRecord<M, S>> {
    const id = this.codec.id(meta);
    if (this.records.has(id)) throw new InvalidArgumentError(`${this.codec.kind} "${id}" already exists`);
    const rec = freeze({ meta, status });
    await this.write(id, rec, opts);
    this.records.set(id, rec);
    return rec;
  }

  /** The record of `id`, or undefined. */
  get(id: string): StoredRecord<M, S> | undefined {
    return this.records.get(id);
  }

  /** The record of `id`; NotFoundError naming the kind and id otherwise. */
  must(id: string): StoredRecord<M, S> {
    const rec = this.records.get(id);
    if (!rec) throw new NotFoundError(`${this.codec.kind} "${id}" not found`);
    return rec;
  }

  /**
   * The record named by a full id or a unique id prefix (as `crictl` users type them). Undefined when
   * nothing matches; InvalidArgument when the prefix is ambiguous.
   */
  find(idOrPrefix: string): StoredRecord<M, S> | undefined {
    const exact = this.records.get(idOrPrefix);
    if (exact || idOrPrefix === '') return exact;
    let found: StoredRecord<M, S> | undefined;
    for (const [id, rec] of this.records) {
      if (!id.startsWith(idOrPrefix)) continue;
      if (found) throw new InvalidArgumentError(`${this.codec.kind} id prefix "${idOrPrefix}" is ambiguous`);
      found = rec;
    }
    return found;
  }
  /** `find`, with NotFoundError naming the kind and the id as given when nothing matches. */
  mustFind(idOrPrefix: string): StoredRecord<M, S> {
    const rec = this.find(idOrPrefix);
    if (!rec) throw new NotFoundError(`${this.codec.kind} "${idOrPrefix}" not found`);
    return rec;
  }

  /** Every record, in no particular order. */
  list(): Array<StoredRecord<M, S>> {
    return [...this.records.values()];
  }

  /**
   * Replaces the status of `id` with `fn(current)`, checkpointing it first. `fn` may return the same object
   * to mean "no change" (nothing is written). NotFound when the record is gone, also when it went while
   * this update waited for an earlier one.
   */
  async update(
    id: string,
    fn: (status: Readonly<S>) => Readonly<S>,
    opts: WriteOptions = {},
  ): Promise<StoredRecord<M, S>> {
    return this.serial(id, async () => {
      const cur = this.must(id);
      const next = fn(cur.status);
      if (next === cur.status) return cur;
      const rec = freeze({ meta: cur.meta, status: { ...next } as S });
      if (!opts.memoryOnly) await this.write(id, rec, opts);
      // Re-check after the await: a remove that ran meanwhile wins (its file deletion came later).
      if (this.records.get(id) !== cur) throw new NotFoundError(`${this.codec.kind} "${id}" not found`);
      this.records.set(id, rec);
      return rec;
    });
  }

  /**
   * Makes the checkpoint of `id`, written with `durable: false`, durable (fsync of the file and of the
   * directory), after every earlier update of it. NotFound when the record is gone.
   */
  async sync(id: string): Promise<void> {
    await this.serial(id, async () => {
      this.must(id);
      await this.dirSync.syncFile(this.file(id));
    });
  }

  /**
   * Deletes the record and its checkpoint, durably: when this resolves, the unlink is on disk (the directory
   * fsync'd), so an answered removal does not come back after a power loss. Absent records are not an error.
   */
  async remove(id: string): Promise<void> {
    await this.serial(id, async () => {
      this.records.delete(id);
      // The unlink on the event loop, the directory's fsync (what makes it durable) in the pool.
      unlinkIfPresentSync(this.file(id));
      await this.dirSync.sync();
    });
  }

  private file(id: string): string {
    return joinPath(this.dir, `${id}.json`);
  }

  private async write(id: string, rec: StoredRecord<M, S>, opts: WriteOptions): Promise<void> {
    const body: RecordFile<M, S> = { version: 1, meta: rec.meta as M, status: rec.status as S };
    // Not durable: on the event loop (four syscalls on a small file instead of four thread-pool round trips;
    // a create waits for its `creating` record: docs/performance.md, "CreateContainer, phase 9").
    if (opts.durable === false) writeJsonReplaceSync(this.file(id), body);
    else if (opts.firstDurable) {
      writeJsonReplaceSync(this.file(id), body);
      await this.dirSync.syncFile(this.file(id));
    } else await writeJsonAtomic(this.file(id), body);
  }

  /** Runs `fn` after every earlier update/remove of `id` has finished. */
  private async serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(id) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.chains.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.chains.get(id) === tail) this.chains.delete(id);
    }
  }
}

function freeze<M, S>(rec: { meta: M; status: S }): StoredRecord<M, S> {
  return Object.freeze({ meta: Object.freeze(rec.meta), status: Object.freeze(rec.status) });
}

/** Turns a JSON value written from a bigint (decimal string) back into a bigint; 0n when absent. */
export function big(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  return 0n;
}
