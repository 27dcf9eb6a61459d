import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import { heapReductionAvailable, mallocTrimAvailable, reduceHeap, trimMalloc } from '../../../pkg/sys/index.js';

describe('trimMalloc', () => {
  it('loads the addon that `make build` builds and calls malloc_trim', () => {
    // Without the addon trimMalloc silently does nothing: this is what catches a build that lost it.
    assert.equal(mallocTrimAvailable(), true, 'dist/native/ucri-memory.node is built by `make native`');
    assert.equal(typeof trimMalloc(), 'boolean');
  });
});

describe('reduceHeap', () => {
  const newSpace = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;

  it("finds V8's low-memory collection in this node and gives the grown young generation back", () => {
    // Without it the daemon falls back to gc() and idles ~3 MiB higher (docs/performance.md, phase 14).
    assert.equal(heapReductionAvailable(), true, "node exports v8::Isolate's GetCurrent and LowMemoryNotification");
    // Many scavenges with survivors grow the young generation; an ordinary full collection keeps it grown.
    let keep: { i: number; s: string }[][] = [];
    for (let r = 0; r < 200; r++) {
      const batch: { i: number; s: string }[] = [];
      for (let i = 0; i < 5000; i++) batch.push({ i, s: `x${i}` });
      keep.push(batch);
      if (keep.length > 20) keep.shift();
    }
    const grown = newSpace();
    const heapBefore = v8.getHeapStatistics().total_heap_size;
    keep = [];
    assert.ok(keep.length === 0 && grown > 4 << 20, `the young generation grew (${grown} bytes)`);
    assert.equal(reduceHeap(), true);
    assert.ok(newSpace() < grown / 4, `young generation ${newSpace()} bytes after, ${grown} before`);
    assert.ok(v8.getHeapStatistics().total_heap_size < heapBefore / 2, 'the heap gave the garbage back');
  });
});
