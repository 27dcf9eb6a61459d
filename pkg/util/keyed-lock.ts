/**
 * Per-key mutual exclusion: the role of a Mesos actor for one container. Operations on one id run one at a
 * time, operations on different ids never wait for each other, so a stuck container cannot stall the rest.
 * After every await inside the critical section, callers still re-check that their object exists.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `fn` once every earlier holder of `key` has finished. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** True while some operation holds or waits for `key`. */
  busy(key: string): boolean {
    return this.tails.has(key);
  }
}
