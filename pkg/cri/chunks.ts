/**
 * The Stream* verbs (KEP-5825) send what their List twins return, split into messages of at most `CHUNK`
 * items, so that a node with thousands of containers never needs one message near the 16 MiB limit. Each
 * chunk's items are computed only when that chunk is due (stats sample a cgroup per item), the sender yields
 * to the event loop between chunks, and it stops as soon as the client has cancelled.
 */
import { CancelledError } from '../util/index.js';

/** Items per streamed message: 100 containers' stats are well under 1 MiB. */
export const CHUNK = 100;

/**
 * Sends `records` in chunks of `size`, each mapped by `map` and wrapped into a message by `wrap`. An empty
 * list still sends one empty message, so a client can tell "nothing matched" from "no answer". Throws
 * CancelledError when `signal` aborts between chunks.
 */
export async function sendChunks<R, T, M>(
  records: readonly R[],
  map: (chunk: R[]) => T[] | Promise<T[]>,
  wrap: (items: T[]) => M,
  send: (msg: M) => void,
  signal: AbortSignal,
  size = CHUNK,
): Promise<void> {
  if (records.length === 0) {
    send(wrap([]));
    return;
  }
  for (let i = 0; i < records.length; i += size) {
    if (signal.aborted) throw new CancelledError('stream cancelled by the client');
    const items = await map(records.slice(i, i + size));
    if (signal.aborted) throw new CancelledError('stream cancelled by the client');
    send(wrap(items));
    await new Promise((resolve) => setImmediate(resolve));
  }
}
