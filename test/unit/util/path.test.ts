/** joinPath gives exactly what path.join gives, for clean parts (its fast case) and for every odd one. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { joinPath } from '../../../pkg/util/index.js';

const PIECES = [
  '',
  '.',
  '..',
  '/',
  '//',
  'a',
  'b',
  'a/',
  '/a',
  'a/b',
  'a//b',
  './a',
  '../a',
  'a/.',
  'a/..',
  '...',
  '.a',
  'a.',
  '..a',
  'a..',
  '/a/b/',
  'a/./b',
  'a/../b',
  ' ',
  'a b',
  '\\',
  'é',
];

it('equals path.join on every pair and triple of odd pieces', () => {
  for (const x of PIECES) {
    assert.equal(joinPath(x), path.join(x), JSON.stringify([x]));
    for (const y of PIECES) {
      assert.equal(joinPath(x, y), path.join(x, y), JSON.stringify([x, y]));
      for (const z of PIECES) assert.equal(joinPath(x, y, z), path.join(x, y, z), JSON.stringify([x, y, z]));
    }
  }
  assert.equal(joinPath(), path.join());
});

it('equals path.join on random joins of up to six pieces', () => {
  let seed = 42;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 20000; i++) {
    const parts = Array.from({ length: 1 + next(6) }, () => PIECES[next(PIECES.length)]!);
    assert.equal(joinPath(...parts), path.join(...parts), JSON.stringify(parts));
  }
});

it('joins clean parts by concatenation', () => {
  assert.equal(
    joinPath('/var/lib/ucri', 'mesos', 'pods', 'p1', 'containers'),
    '/var/lib/ucri/mesos/pods/p1/containers',
  );
  assert.equal(joinPath('rel', 'x.json'), 'rel/x.json');
});
