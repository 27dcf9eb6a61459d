/**
 * A Map bounded to `max` entries that drops the least recently used one when full. `get` and `set` count as
 * uses; `peek` does not.
 */
export class LruMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly max: number) {}

  /** The value under `key`, which becomes the most recently used. */
  get(key: K): V | undefined {
    const v = this.entries.get(key);
    if (v !== undefined || this.entries.has(key)) this.set(key, v as V);
    return v;
  }

  /** The value under `key`, its place left as it is. */
  peek(key: K): V | undefined {
    return this.entries.get(key);
  }

  /** Stores `value` under `key` as the most recently used; drops the least recently used beyond `max`. */
  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as K);
  }

  get size(): number {
    return this.entries.size;
  }
}
