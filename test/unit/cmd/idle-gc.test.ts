import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { IdleCollector } from '../../../cmd/ucri/idle-gc.js';

const MiB = 1024 * 1024;

interface FakeHeap {
  used: number;
  live: number;
  total: number;
  gcs: number;
  gc: () => void;
  heapUsed: () => number;
  heapTotal: () => number;
}

/** A fake heap: tests allocate by raising `used`; the fake gc frees down to `live` and uncommits down to it. */
function fakeHeap(): FakeHeap {
  const h: FakeHeap = {
    used: 10 * MiB,
    live: 10 * MiB,
    total: 12 * MiB,
    gcs: 0,
    gc: () => {
      h.gcs++;
      h.used = h.live;
      h.total = h.live + 2 * MiB;
    },
    heapUsed: () => h.used,
    heapTotal: () => h.total,
  };
  return h;
}

/** A collector over `h` with a 1 s quiet period, collecting at 2 MiB of growth unless `extra` says otherwise. */
function collectorOf(h: FakeHeap, extra: Partial<ConstructorParameters<typeof IdleCollector>[0]> = {}): IdleCollector {
  return new IdleCollector({
    gc: h.gc,
    heapUsed: h.heapUsed,
    heapTotal: h.heapTotal,
    quietMs: 1000,
    minGrowthBytes: 2 * MiB,
    ...extra,
  });
}

/** Advances the mocked clock in steps, so that timers armed by timers run too. */
function advance(ms: number): void {
  for (let t = 0; t < ms; t += 100) mock.timers.tick(100);
}

describe('IdleCollector', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  it('collects once after the RPCs stop, when the heap grew', () => {
    const h = fakeHeap();
    const c = collectorOf(h);
    for (let i = 0; i < 10; i++) {
      h.used += MiB;
      c.activity();
      advance(300);
    }
    assert.equal(h.gcs, 0, 'no collection while RPCs keep finishing');
    advance(3000);
    assert.equal(h.gcs, 1);
    assert.equal(h.used, h.live);
    advance(60_000);
    assert.equal(h.gcs, 1, 'no further collection without activity');
  });

  it('collects quietMs after the last RPC, not a whole period after the timer that saw it', () => {
    mock.timers.reset();
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
    const h = fakeHeap();
    const c = collectorOf(h, { now: () => Date.now() });
    h.used += 3 * MiB;
    c.activity(); // t=0: the timer fires at 1000
    advance(900);
    c.activity(); // t=900: the last RPC
    advance(1000); // t=1900: 1000 ms after it
    assert.equal(h.gcs, 1, 'collected 1000 ms after the last RPC (before: at 2000)');
    advance(5000);
    assert.equal(h.gcs, 1);
  });

  it('does not collect when the heap barely grew', () => {
    const h = fakeHeap();
    const c = collectorOf(h);
    h.used += MiB;
    c.activity();
    advance(5000);
    assert.equal(h.gcs, 0);
  });

  it('measures growth from the heap left by the last collection', () => {
    const h = fakeHeap();
    const c = collectorOf(h);
    h.used += 5 * MiB;
    h.live += 3 * MiB; // 3 MiB of it stays live
    c.activity();
    advance(2000);
    assert.equal(h.gcs, 1);
    h.used += MiB;
    c.activity();
    advance(2000);
    assert.equal(h.gcs, 1, '1 MiB over what the last collection left is below the threshold');
    h.used += 2 * MiB;
    c.activity();
    advance(2000);
    assert.equal(h.gcs, 2);
  });

  it('collects when V8 kept the heap it grew committed although the used heap is back down', () => {
    const h = fakeHeap();
    const c = new IdleCollector({ gc: h.gc, heapUsed: h.heapUsed, heapTotal: h.heapTotal, quietMs: 1000 });
    // Under load V8 collected on its own: the used heap is where it was, the committed heap is not.
    h.total += 30 * MiB;
    c.activity();
    advance(3000);
    assert.equal(h.gcs, 1);
    assert.equal(h.total, h.live + 2 * MiB);
    c.activity();
    advance(3000);
    assert.equal(h.gcs, 1, 'nothing grew since: no second collection');
  });

  it('runs the given number of passes per collection', () => {
    const h = fakeHeap();
    const c = new IdleCollector({ gc: h.gc, heapUsed: h.heapUsed, heapTotal: h.heapTotal, quietMs: 1000, passes: 2 });
    h.used += 5 * MiB;
    c.activity();
    advance(3000);
    assert.equal(c.collections, 1);
    assert.equal(h.gcs, 2);
  });

  it('is inert without gc and after stop', () => {
    const h = fakeHeap();
    const inert = new IdleCollector({ gc: undefined, heapUsed: h.heapUsed, heapTotal: h.heapTotal, quietMs: 1000 });
    h.used += 50 * MiB;
    inert.activity();
    advance(5000);
    assert.equal(inert.collections, 0);
    const c = new IdleCollector({ gc: h.gc, heapUsed: h.heapUsed, heapTotal: h.heapTotal, quietMs: 1000 });
    c.activity();
    c.stop();
    c.activity();
    advance(5000);
    assert.equal(h.gcs, 0);
  });

  it('trims malloc once per quiet period, whether or not the heap grew, and not while RPCs keep finishing', () => {
    const h = fakeHeap();
    let trims = 0;
    const trim = (): boolean => {
      trims++;
      return true;
    };
    const c = new IdleCollector({ gc: h.gc, heapUsed: h.heapUsed, heapTotal: h.heapTotal, quietMs: 1000, trim });
    // A steady poller: an RPC every 500 ms never leaves the daemon quiet.
    for (let i = 0; i < 10; i++) {
      c.activity();
      advance(500);
    }
    assert.equal(trims, 0);
    advance(2000);
    assert.equal(trims, 1, 'the heap did not grow, malloc is trimmed all the same');
    assert.equal(h.gcs, 0);
    h.used += 5 * MiB;
    c.activity();
    advance(3000);
    assert.equal(h.gcs, 1);
    assert.equal(trims, 2);
    advance(5000);
    assert.equal(trims, 2, 'no activity, no further trim');
    // Without --expose-gc the daemon still trims.
    const noGc = new IdleCollector({
      gc: undefined,
      heapUsed: h.heapUsed,
      heapTotal: h.heapTotal,
      quietMs: 1000,
      trim,
    });
    noGc.activity();
    advance(2000);
    assert.equal(trims, 3);
    assert.equal(noGc.collections, 0);
  });
});
