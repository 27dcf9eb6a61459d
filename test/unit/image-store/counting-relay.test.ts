/**
 * The counting relay between a verified blob stream and the layer extractor: an error of the source must
 * reach the reader in every state of the relay, or the pull waits forever. The state that used to lose it:
 * the reader asked for more (a read is pending) while data was still buffered, and the source then failed
 * without sending anything else.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { counting } from '../../../pkg/mesos/provisioner/stores/counting-relay.js';

/** Resolves with the relay's error, or with 'pending' if none came within a few event-loop turns. */
async function errorOrPending(relay: NodeJS.ReadableStream, failed: Promise<unknown>): Promise<unknown> {
  for (let i = 0; i < 20; i++) {
    // Drain whatever is buffered, as a reader would.
    while (relay.read() !== null) {}
    await tick();
  }
  return Promise.race([failed, Promise.resolve('pending')]);
}

describe('counting relay', () => {
  it('hands over a source error that arrives while a read is pending and data is buffered', async () => {
    const src = new PassThrough();
    let counted = 0;
    const relay = counting(src, (n) => {
      counted += n;
    });
    const failed = once(relay, 'error').then(([e]) => e as Error);
    src.write(Buffer.alloc(1024, 1));
    relay.read(0); // starts the flow: the chunk lands in the relay's buffer
    await tick();
    assert.equal(relay.readableLength, 1024);
    relay.read(0); // a read is now pending while 1 KiB is buffered
    const mismatch = new Error('digest mismatch');
    src.destroy(mismatch);
    await tick(); // the source's error event comes while the relay still holds the 1 KiB
    assert.equal(await errorOrPending(relay, failed), mismatch);
    assert.equal(counted, 1024);
  });

  it('hands over an error that came before anyone listened, once a reader listens', async () => {
    const src = new PassThrough();
    const relay = counting(src, () => {});
    src.end(Buffer.alloc(10));
    const mismatch = new Error('digest mismatch');
    src.destroy(mismatch);
    await tick();
    await tick();
    const failed = once(relay, 'error').then(([e]) => e as Error);
    assert.equal(await errorOrPending(relay, failed), mismatch);
  });

  it('passes data and the end through unchanged', async () => {
    const src = new PassThrough();
    let counted = 0;
    const relay = counting(src, (n) => {
      counted += n;
    });
    src.end(Buffer.from('hello world'));
    const chunks: Buffer[] = [];
    for await (const c of relay) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'hello world');
    assert.equal(counted, 11);
  });
});
