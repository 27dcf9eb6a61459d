import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mallocTrimAvailable, trimMalloc } from '../../../pkg/sys/index.js';

describe('trimMalloc', () => {
  it('loads the addon that `make build` builds and calls malloc_trim', () => {
    // Without the addon trimMalloc silently does nothing: this is what catches a build that lost it.
    assert.equal(mallocTrimAvailable(), true, 'dist/native/ucri-malloc.node is built by `make native`');
    assert.equal(typeof trimMalloc(), 'boolean');
  });
});
