/**
 * ListContainers and ListPodSandbox answers from list items made and encoded once per record version.
 *
 * The records of the CRI stores are frozen and replaced on every update (store/record-store.ts), so a record
 * object stands for one version of its state: the item translated from it (toContainer, toPodSandbox) and
 * that item's protobuf bytes are kept in WeakMaps keyed by the record and by the item, and go with them.
 * A changed record is a new object, whose item is made and encoded afresh on the next list; every answer
 * reflects the records as they are when it is built. The items are deep-frozen: callers share them.
 *
 * The list response is then the concatenation, per item, of the field's tag, the item's length and its bytes:
 * byte for byte what the generated encoder writes for the repeated message field (test/unit/cri/list-items).
 * Profiled in docs/performance.md ("Status and list calls after a verb, phase 8").
 */
import { Container, type MessageFns, PodSandbox } from './gen/cri/v1/api.js';
import type { ContainerRecord } from './store/container.js';
import type { SandboxRecord } from './store/sandbox.js';

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n >>>= 7;
    len++;
  }
  return len;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[at++] = n;
  return at;
}

/** The items of one list verb, per record version, and the encoder of a response repeating them. */
export class ListItems<R extends object, M extends object> {
  readonly #items = new WeakMap<R, M>();
  readonly #made = new WeakSet<M>();
  readonly #bytes = new WeakMap<M, Uint8Array>();
  readonly #type: MessageFns<M>;
  readonly #tag: number;

  /** `field`: the number of the response's repeated field of `type` (length-delimited). */
  constructor(type: MessageFns<M>, field: number) {
    this.#type = type;
    this.#tag = (field << 3) | 2;
  }

  /** The item of `rec` (frozen, shared), translated by `make` once per record version. */
  item(rec: R, make: (rec: R) => M): M {
    let m = this.#items.get(rec);
    if (m === undefined) {
      m = deepFreeze(make(rec));
      this.#items.set(rec, m);
      this.#made.add(m);
    }
    return m;
  }

  /** The encoded item; kept only for items made by {@link item} (frozen), anything else is encoded each time. */
  #encoded(m: M): Uint8Array {
    const kept = this.#bytes.get(m);
    if (kept !== undefined) return kept;
    const b = this.#type.encode(m).finish();
    if (this.#made.has(m)) this.#bytes.set(m, b);
    return b;
  }

  /** A response whose only field is the repeated `items`: tag, length and bytes of each, in order. */
  encodeList(items: readonly M[]): Buffer {
    const parts = items.map((m) => this.#encoded(m));
    const tagLen = varintLength(this.#tag);
    let total = 0;
    for (const p of parts) total += tagLen + varintLength(p.length) + p.length;
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (const p of parts) {
      at = writeVarint(out, at, this.#tag);
      at = writeVarint(out, at, p.length);
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/** ListContainersResponse.containers (field 1). */
export const CONTAINER_ITEMS = new ListItems<ContainerRecord, Container>(Container, 1);
/** ListPodSandboxResponse.items (field 1). */
export const SANDBOX_ITEMS = new ListItems<SandboxRecord, PodSandbox>(PodSandbox, 1);
