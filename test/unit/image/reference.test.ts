import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { familiarName, formatReference, parseReference } from '../../../pkg/image/index.js';
import { isKind } from '../../../pkg/util/index.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  const valid: Array<[string, string, string]> = [
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['user/app:v1', 'docker.io/user/app:v1', 'user/app:v1'],
    ['docker.io/library/a/b', 'docker.io/library/a/b:latest', 'library/a/b:latest'],
    [
      'registry.k8s.io/e2e-test-images/busybox:1.29-2',
      'registry.k8s.io/e2e-test-images/busybox:1.29-2',
      'registry.k8s.io/e2e-test-images/busybox:1.29-2',
    ],
    ['localhost/app', 'localhost/app:latest', 'localhost/app:latest'],
    ['localhost:5000/app:tag', 'localhost:5000/app:tag', 'localhost:5000/app:tag'],
    ['127.0.0.1:5000/a/b/c:x.y_z-1', '127.0.0.1:5000/a/b/c:x.y_z-1', '127.0.0.1:5000/a/b/c:x.y_z-1'],
    ['[::1]:5000/app', '[::1]:5000/app:latest', '[::1]:5000/app:latest'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`, `busybox@${D}`],
    [`quay.io/a/b:t@${D}`, `quay.io/a/b:t@${D}`, `quay.io/a/b:t@${D}`],
    ['a__b/c-d---e.f_g', 'docker.io/a__b/c-d---e.f_g:latest', 'a__b/c-d---e.f_g:latest'],
    ['a.b/c', 'a.b/c:latest', 'a.b/c:latest'],
    ['Host.Example.com:443/x', 'Host.Example.com:443/x:latest', 'Host.Example.com:443/x:latest'],
  ];
  for (const [input, canonical, familiar] of valid) {
    it(`normalizes ${input}`, () => {
      const ref = parseReference(input);
      assert.equal(formatReference(ref), canonical);
      assert.equal(familiarName(ref), familiar);
    });
  }

  it('splits the parts', () => {
    assert.deepEqual(parseReference('localhost:5000/x/y:t'), { domain: 'localhost:5000', path: 'x/y', tag: 't' });
    assert.deepEqual(parseReference(`x@${D}`), { domain: 'docker.io', path: 'library/x', digest: D });
  });

  const invalid = [
    '',
    ' busybox',
    'BusyBox',
    'docker.io/Library/busybox',
    'busybox:',
    'busybox:-tag',
    `busybox:${'t'.repeat(129)}`,
    'busybox@sha256:abc',
    `busybox@sha512:${'a'.repeat(128)}`,
    `busybox@${D.toUpperCase()}`,
    'a//b',
    '/busybox',
    'busybox/',
    'bad_host.com:99999/x',
    '-host.com/x',
    'a/b:c:d',
    'x..y',
    `${'a'.repeat(256)}`,
    'host.com/',
  ];
  for (const input of invalid) {
    it(`rejects ${JSON.stringify(input.slice(0, 40))}`, () => {
      assert.throws(
        () => parseReference(input),
        (err) => isKind(err, 'InvalidArgument') && (err as Error).message.includes('invalid image reference'),
      );
    });
  }
});
