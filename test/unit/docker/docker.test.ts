import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import {
  compareApiVersions,
  demux,
  encodeFrame,
  engineError,
  FrameDecoder,
  lastLogTimestamp,
  logResumePoint,
  listeningPorts,
  parseTimeNs,
  pullSourceFrom,
  unknownCapability,
} from '../../../pkg/docker/index.js';
import { reconcile } from '../../../pkg/cri/runtime/recover.js';
import type { ContainerStatus } from '../../../pkg/cri/store/container.js';
import { boundingMask } from '../../../pkg/sys/index.js';
import { isKind } from '../../../pkg/util/index.js';

describe('docker stream framing', () => {
  it('decodes frames split at any byte, and ignores stdin echo frames', () => {
    const got: string[] = [];
    const dec = new FrameDecoder((kind, data) => got.push(`${kind}:${data.toString()}`));
    const bytes = Buffer.concat([
      encodeFrame('stdout', Buffer.from('hello\n')),
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 0x78]),
      encodeFrame('stderr', Buffer.from('oops')),
      encodeFrame('stdout', Buffer.alloc(0)),
    ]);
    for (const b of bytes) dec.push(Buffer.from([b]));
    assert.deepEqual(got, ['stdout:hello\n', 'stderr:oops', 'stdout:']);
    assert.equal(dec.pending(), 0);
    dec.push(encodeFrame('stdout', Buffer.from('abc')).subarray(0, 9));
    assert.equal(dec.pending(), 9);
  });

  it('demuxes a stream into stdout and stderr that end with it', async () => {
    const src = new PassThrough();
    const { stdout, stderr } = demux(src);
    src.end(Buffer.concat([encodeFrame('stderr', Buffer.from('e')), encodeFrame('stdout', Buffer.from('o'))]));
    const read = async (s: NodeJS.ReadableStream) => {
      let t = '';
      for await (const c of s) t += c.toString();
      return t;
    };
    assert.deepEqual(await Promise.all([read(stdout), read(stderr)]), ['o', 'e']);
  });
});

describe('docker API helpers', () => {
  it('maps Engine API statuses to error kinds', () => {
    assert.ok(isKind(engineError(404, 'No such container: x', 'GET /x'), 'NotFound'));
    assert.ok(isKind(engineError(409, 'Conflict. The container name "/a" is already in use', 'POST'), 'AlreadyExists'));
    assert.ok(isKind(engineError(409, 'Container abc is not running', 'POST'), 'FailedPrecondition'));
    assert.ok(isKind(engineError(400, 'bad parameter', 'POST'), 'InvalidArgument'));
    assert.ok(isKind(engineError(500, 'boom', 'POST'), 'Internal'));
    assert.match(engineError(404, 'No such image', 'GET /images').message, /^dockerd: GET \/images: No such image$/);
  });

  it('compares API versions numerically', () => {
    assert.ok(compareApiVersions('1.41', '1.9') > 0);
    assert.equal(compareApiVersions('1.40', '1.40'), 0);
    assert.ok(compareApiVersions('1.39', '1.40') < 0);
  });

  it('parses RFC 3339 times to nanoseconds, and dockerd zero time to 0', () => {
    assert.equal(parseTimeNs('2026-12-04T16:04:03.123456789Z'), 1_796_400_243_123_456_789n);
    assert.equal(parseTimeNs('2026-12-04T16:04:03.5Z'), 1_796_400_243_500_000_000n);
    assert.equal(parseTimeNs('2026-12-04T17:04:03+01:00'), 1_796_400_243_000_000_000n);
    assert.equal(parseTimeNs('0001-01-01T00:00:00Z'), 0n);
    assert.equal(parseTimeNs('garbage'), 0n);
  });

  it('finds listening ports in /proc/net/tcp', () => {
    const table = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1',
      '   1: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2',
    ].join('\n');
    assert.deepEqual([...listeningPorts(table)], [8080]);
  });

  it('applies registry mirrors and credentials to dockerd pulls', async () => {
    const src = pullSourceFrom({ 'registry.k8s.io': { endpoints: ['http://127.0.0.1:5000'] } }, (host) =>
      host === '127.0.0.1:5000' ? { username: 'u', password: 'p' } : undefined,
    );
    assert.deepEqual(await src('registry.k8s.io/pause:3.9'), {
      ref: '127.0.0.1:5000/pause:3.9',
      auth: { username: 'u', password: 'p', serveraddress: '127.0.0.1:5000' },
    });
    assert.deepEqual(await src('example.com/a/b:1'), { ref: 'example.com/a/b:1', auth: undefined });
  });

  it('reads the timestamp of the last line of a CRI log', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-dklog-'));
    try {
      const file = path.join(dir, 'c.log');
      assert.equal(await lastLogTimestamp(file), '');
      await fs.writeFile(file, '2026-01-01T00:00:00.1Z stdout F a\n2026-01-01T00:00:00.2Z stderr P b\n');
      assert.equal(await lastLogTimestamp(file), '2026-01-01T00:00:00.2Z');
      await fs.appendFile(file, '2026-01-01T00:00:00.2Z stderr F c\n');
      assert.deepEqual(await logResumePoint(file), { ts: '2026-01-01T00:00:00.2Z', sameTs: 2 });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('docker containerizer helpers', () => {
  it('names the capability dockerd refuses as unknown, and nothing for other refusals', () => {
    assert.equal(
      unknownCapability('dockerd: POST /containers/create: invalid CapAdd: unknown capability: "CAP_PERFMON"'),
      'CAP_PERFMON',
    );
    assert.equal(unknownCapability('dockerd: POST /containers/create: invalid mount config'), undefined);
  });

  it('reads the bounding set of /proc/<pid>/status', () => {
    assert.equal(boundingMask('Name:\tx\nCapBnd:\t000001fffeffffff\n'), 0x1fffeffffffn);
    assert.equal(boundingMask('Name:\tx\n'), -1n);
  });

  it('keeps a running container UNKNOWN while its containerizer cannot tell, then takes what it found', () => {
    const running = {
      state: 'running',
      pid: 42,
      startedAt: 5n,
      exitCode: 0,
      reason: '',
      message: '',
      finishedAt: 0n,
    } as unknown as ContainerStatus;
    const unknown = reconcile(running, { id: 'c', state: 'unknown' });
    assert.equal(unknown.state, 'unknown');
    const created = { ...running, state: 'created' } as ContainerStatus;
    assert.equal(reconcile(created, { id: 'c', state: 'unknown' }).state, 'created');
    const runtime = {
      state: 'running' as const,
      mesosState: 'RUNNING',
      pid: 43,
      startedAt: 5n,
      termination: undefined,
      user: undefined,
      info: {},
    };
    assert.equal(reconcile(unknown, { id: 'c', state: 'running', runtime }).state, 'running');
    const lost = reconcile(unknown, { id: 'c', state: 'lost' });
    assert.equal(lost.state, 'exited');
    assert.equal(lost.exitCode, 255);
  });
});
