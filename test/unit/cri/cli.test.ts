import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspectDocument } from '../../../cmd/ucri/inspect.js';
import { ago, psRows } from '../../../cmd/ucri/ps.js';
import { Container, ContainerState, ContainerStatus } from '../../../pkg/cri/gen/cri/v1/api.js';

describe('ucri ps / inspect formatting', () => {
  it('prints crictl ps -a columns, oldest first', () => {
    const now = 1_700_000_100_000;
    const mk = (id: string, created: number, state: ContainerState, image: string) =>
      Container.fromPartial({
        id,
        podSandboxId: 'p'.repeat(64),
        metadata: { name: `n${id[0]}`, attempt: 2 },
        image: { image, runtimeHandler: id.startsWith('a') ? 'docker' : '' },
        state,
        createdAt: BigInt(created) * 1_000_000n,
      });
    const rows = psRows(
      [
        mk('b'.repeat(64), now - 3 * 60_000, ContainerState.CONTAINER_EXITED, `sha256:${'f'.repeat(64)}`),
        mk('a'.repeat(64), now - 7200_000, ContainerState.CONTAINER_RUNNING, 'docker.io/library/busybox:latest'),
      ],
      now,
    );
    assert.deepEqual(rows, [
      [
        'a'.repeat(13),
        'docker.io/library/busybox:latest',
        '2 hours ago',
        'Running',
        'na',
        '2',
        'p'.repeat(13),
        'docker',
      ],
      ['b'.repeat(13), 'f'.repeat(13), '3 minutes ago', 'Exited', 'nb', '2', 'p'.repeat(13), 'mesos'],
    ]);
    assert.equal(ago(BigInt(now) * 1_000_000n, now), 'Less than a second ago');
  });

  it('prints inspect JSON with enum names, RFC 3339 times and parsed info', () => {
    const doc = inspectDocument({
      status: ContainerStatus.fromPartial({
        id: 'x',
        state: ContainerState.CONTAINER_EXITED,
        createdAt: 1_700_000_000_123_456_789n,
      }),
      info: { info: '{"pid":5}' },
    });
    const status = doc.status as Record<string, unknown>;
    assert.equal(status.state, 'CONTAINER_EXITED');
    assert.equal(status.createdAt, '2023-11-14T22:13:20.123456789Z');
    assert.equal(status.startedAt, '');
    assert.deepEqual(doc.info, { info: { pid: 5 } });
  });
});
