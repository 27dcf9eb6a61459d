/**
 * The Engine API client against a real dockerd started by this test: version negotiation, errors mapped to
 * kinds, a pull from the local registry, events filtered by label, and exec over a hijacked connection
 * with the stdout/stderr framing; a socket nobody serves is Unavailable naming it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DockerClient, EngineApi, MAX_API_VERSION, type EngineEvent } from '../../../pkg/docker/index.js';
import { isKind } from '../../../pkg/util/index.js';
import { startDockerd, type TestDockerd } from '../../support/dockerd.js';
import { fixtureImages } from '../../support/images.js';
import { type RunningRegistry, startRegistry } from '../../support/registry.js';

describe('docker Engine API client (real dockerd)', () => {
  let dockerd: TestDockerd;
  let registry: RunningRegistry;
  let api: EngineApi;
  let image: string;
  const label = `io.ucri.test=${randomBytes(4).toString('hex')}`;

  before(async () => {
    [dockerd, registry] = await Promise.all([startDockerd(), startRegistry()]);
    image = (await fixtureImages(registry)).busybox.ref;
    api = new EngineApi(new DockerClient(dockerd.socket));
  });
  after(async () => {
    await api?.client.close();
    await dockerd?.cleanup();
    await registry?.stop();
  });

  it('negotiates the API version', async () => {
    const v = await api.version();
    assert.equal(api.client.apiVersion(), MAX_API_VERSION);
    assert.match(v.Version, /^20\./);
  });

  it('maps errors to kinds and a dead socket to Unavailable naming it', async () => {
    await assert.rejects(api.inspectContainer('no-such-container'), (e: unknown) => isKind(e, 'NotFound'));
    const dead = new DockerClient(path.join(dockerd.root, 'nobody.sock'));
    await assert.rejects(dead.ping(), (e: unknown) => isKind(e, 'Unavailable') && String(e).includes('nobody.sock'));
    await dead.close();
  });

  it('pulls, creates, follows events and execs over a hijacked connection', async () => {
    await api.pullImage(image, undefined);
    const events: EngineEvent[] = [];
    const ac = new AbortController();
    const stream = await api.events([label], ac.signal);
    const reading = (async () => {
      try {
        for await (const e of stream) {
          events.push(e);
          if (e.Action === 'start') return;
        }
      } catch {
        // aborted
      }
    })();
    const name = `ucri-test-${randomBytes(4).toString('hex')}`;
    const { Id } = await api.createContainer(name, {
      Image: image,
      Cmd: ['sleep', '300'],
      Labels: { [label.split('=')[0]!]: label.split('=')[1]! },
      HostConfig: { NetworkMode: 'none' },
    });
    try {
      await assert.rejects(api.createContainer(name, { Image: image }), (e: unknown) => isKind(e, 'AlreadyExists'));
      await api.startContainer(Id);
      await reading;
      ac.abort();
      assert.deepEqual(
        events.map((e) => e.Action),
        ['create', 'start'],
      );
      const { Id: execId } = await api.execCreate(Id, {
        Cmd: ['sh', '-c', 'echo to-out; echo to-err >&2; exit 7'],
        AttachStdout: true,
        AttachStderr: true,
      });
      const sock = await api.execStart(execId, false);
      const chunks: Buffer[] = [];
      for await (const c of sock) chunks.push(c as Buffer);
      const raw = Buffer.concat(chunks);
      // Two frames: stdout then stderr (each a separate write of the shell).
      const frames: string[] = [];
      for (let o = 0; o < raw.length; ) {
        const len = raw.readUInt32BE(o + 4);
        frames.push(`${raw[o]}:${raw.subarray(o + 8, o + 8 + len).toString()}`);
        o += 8 + len;
      }
      assert.deepEqual(frames.sort(), ['1:to-out\n', '2:to-err\n']);
      let info = await api.execInspect(execId);
      for (let i = 0; i < 50 && info.Running; i++) info = await api.execInspect(execId);
      assert.equal(info.ExitCode, 7);
    } finally {
      await api.removeContainer(Id);
    }
  });
});
