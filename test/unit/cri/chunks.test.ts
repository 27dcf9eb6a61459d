import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sendChunks } from '../../../pkg/cri/chunks.js';
import { CancelledError } from '../../../pkg/util/index.js';

describe('sendChunks', () => {
  it('sends every item once, in order, in chunks of the given size', async () => {
    const sent: number[][] = [];
    const items = Array.from({ length: 25 }, (_, i) => i);
    await sendChunks(
      items,
      (c) => c.map((x) => x * 2),
      (c) => c,
      (m) => sent.push(m),
      new AbortController().signal,
      10,
    );
    assert.deepEqual(
      sent.map((c) => c.length),
      [10, 10, 5],
    );
    assert.deepEqual(
      sent.flat(),
      items.map((x) => x * 2),
    );
  });

  it('sends one empty message when nothing matched', async () => {
    const sent: number[][] = [];
    await sendChunks(
      [],
      (c: number[]) => c,
      (c) => c,
      (m) => sent.push(m),
      new AbortController().signal,
    );
    assert.deepEqual(sent, [[]]);
  });

  it('stops mapping and sending once the signal aborts', async () => {
    const ac = new AbortController();
    const mapped: number[] = [];
    const items = Array.from({ length: 50 }, (_, i) => i);
    const run = sendChunks(
      items,
      (c) => {
        mapped.push(...c);
        return c;
      },
      (c) => c,
      () => ac.abort(),
      ac.signal,
      10,
    );
    await assert.rejects(run, CancelledError);
    assert.equal(mapped.length, 10, 'only the first chunk was computed');
  });
});
