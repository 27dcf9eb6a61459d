/**
 * A real grpc-go client (the project's probe, built from Debian's grpc-go 1.33 like crictl 1.26) dials the
 * daemon's socket path as crictl does, so the path travels as HTTP/2 :authority. node's HTTP/2 (nghttp2)
 * reset such streams; ucri's own HTTP/2 connection (pkg/h2 ServerConnection) accepts any authority.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildProbe, runProbe } from '../support/probe.js';
import { startDaemon, type TestDaemon } from '../support/daemon.js';

describe('grpc-go client against ucri serve', () => {
  let d: TestDaemon;
  before(async () => {
    await buildProbe();
    d = await startDaemon();
  });
  after(async () => {
    await d.stop();
    await d.cleanup();
  });

  it('gets Version with the socket path as :authority', async () => {
    const r = await runProbe(['-socket', d.socket, 'version']);
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout) as Record<string, string>;
    assert.equal(v.runtime_name, 'ucri');
    assert.equal(v.runtime_api_version, 'v1');
  });

  it('keeps one connection working across many calls', async () => {
    const r = await runProbe(['-socket', d.socket, '-n', '40', 'version']);
    assert.equal(r.code, 0, r.stderr);
  });

  it('is served with a valid :authority too', async () => {
    const r = await runProbe(['-socket', d.socket, '-authority', 'localhost', '-n', '40', 'version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Record<string, string>).runtime_name, 'ucri');
  });

  it('gets Status as raw bytes (RuntimeReady is reported)', async () => {
    const r = await runProbe(['-socket', d.socket, 'raw', '/runtime.v1.RuntimeService/Status', '']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Buffer.from(r.stdout.trim(), 'hex').toString('latin1').includes('RuntimeReady'));
  });

  it('sees UNIMPLEMENTED with the RPC named for what is not built yet', async () => {
    const r = await runProbe(['-socket', d.socket, 'raw', '/runtime.v1.RuntimeService/CheckpointPod', '']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Unimplemented.*CheckpointPod/);
  });
});
