import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { Coalesce } from '../../../pkg/image/layer/decompress.js';

/** The chunks as a pipe() downstream gets them ('data' events; an async iterator's read() would join them). */
async function through(chunks: Buffer[], size: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const c = Readable.from(chunks).pipe(new Coalesce(size));
  c.on('data', (b: Buffer) => out.push(b));
  await once(c, 'end');
  return out;
}

describe('Coalesce', () => {
  it('joins small chunks into chunks of at least its size, the last one shorter, bytes and order kept', async () => {
    const sizes = [10, 20, 5, 100, 1, 1];
    let next = 0;
    const chunks = sizes.map((n) => Buffer.from(Array.from({ length: n }, () => next++ % 251)));
    const out = await through(chunks, 32);
    assert.deepEqual(
      out.map((b) => b.length),
      [35, 100, 2],
    );
    assert.deepEqual(Buffer.concat(out), Buffer.concat(chunks));
  });

  it('passes a chunk as large as its size on at once, and nothing for an empty input', async () => {
    const big = Buffer.alloc(64, 7);
    const out = await through([big, Buffer.from([1])], 64);
    assert.equal(out.length, 2);
    assert.equal(out[0], big, 'a chunk that fills a batch alone is passed on without a copy');
    assert.deepEqual(await through([], 64), []);
  });
});
