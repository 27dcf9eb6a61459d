import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LruMap } from '../../../pkg/util/index.js';

describe('LruMap', () => {
  it('drops the least recently used entry beyond its bound; get and set are uses, peek is not', () => {
    const m = new LruMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    assert.equal(m.get('a'), 1); // a is now the most recently used
    m.set('c', 3); // drops b
    assert.equal(m.size, 2);
    assert.equal(m.peek('b'), undefined);
    assert.equal(m.peek('a'), 1); // not a use: a stays the least recently used
    m.set('d', 4); // drops a
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((k) => m.peek(k)),
      [undefined, undefined, 3, 4],
    );
    m.set('c', 30); // a replacement is a use
    m.set('e', 5); // drops d
    assert.deepEqual([m.peek('c'), m.peek('d'), m.peek('e')], [30, undefined, 5]);
  });

  it('keeps an entry whose value is undefined and counts its get as a use', () => {
    const m = new LruMap<string, number | undefined>(2);
    m.set('x', undefined);
    m.set('y', 1);
    assert.equal(m.get('x'), undefined);
    m.set('z', 2); // drops y, not x
    assert.equal(m.size, 2);
    assert.equal(m.peek('y'), undefined);
    assert.deepEqual([m.peek('z')], [2]);
  });
});
