/** The docker runtime handler refuses image volumes clearly rather than binding an empty host path. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { containerBody } from '../../../pkg/docker/translate.js';
import { isKind } from '../../../pkg/util/index.js';
import { containerSpec, podSpec } from '../isolators/fake.js';

describe('docker translate: image volumes', () => {
  it('is FailedPrecondition naming the volume', async () => {
    const spec = containerSpec({
      mounts: [
        {
          containerPath: '/vol',
          hostPath: '',
          readonly: true,
          propagation: 'private',
          recursiveReadOnly: false,
          image: { id: `sha256:${'a'.repeat(64)}`, ref: 'busybox' },
          imageSubPath: '',
        },
      ],
    });
    await assert.rejects(containerBody(spec, podSpec(), 'infra', 'i'), (err: unknown) => {
      assert.ok(isKind(err, 'FailedPrecondition'));
      assert.match(String(err), /image volume "\/vol" is not supported by the docker runtime handler/);
      return true;
    });
  });
});
