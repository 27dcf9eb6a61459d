/**
 * The method tables the daemon serves from (pkg/cri/services.ts) and the grpc-js clients made of them
 * (pkg/cri/client.ts): paths, stream flags and codecs as the CRI's proto defines them. The calls themselves
 * over a socket are covered by instrumented.test.ts and the e2e tests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { grpc, ImageServiceClient, ImagesClient, RuntimeServiceClient } from '../../../pkg/cri/client.js';
import { ContainerStats, ListContainerStatsResponse, VersionRequest } from '../../../pkg/cri/gen/cri/v1/api.js';
import { ImageServiceService, ImagesService, RuntimeServiceService } from '../../../pkg/cri/services.js';

describe('cri service tables', () => {
  it('name every method by its proto path, once', () => {
    const tables = [
      ['runtime.v1.RuntimeService', RuntimeServiceService],
      ['runtime.v1.ImageService', ImageServiceService],
      ['ucri.v1.Images', ImagesService],
    ] as const;
    const paths = new Set<string>();
    for (const [service, table] of tables) {
      for (const [key, m] of Object.entries(table)) {
        assert.equal(m.path, `/${service}/${key[0]!.toUpperCase()}${key.slice(1)}`);
        assert.equal(m.requestStream, false);
        paths.add(m.path);
      }
    }
    assert.equal(
      paths.size,
      tables.reduce((n, [, t]) => n + Object.keys(t).length, 0),
    );
    assert.equal(RuntimeServiceService.version.path, '/runtime.v1.RuntimeService/Version');
    assert.equal(RuntimeServiceService.listPodSandbox.path, '/runtime.v1.RuntimeService/ListPodSandbox');
    assert.equal(ImagesService.pullImage.path, '/ucri.v1.Images/PullImage');
  });

  it('mark the server-streaming methods', () => {
    assert.equal(RuntimeServiceService.getContainerEvents.responseStream, true);
    assert.equal(RuntimeServiceService.streamContainers.responseStream, true);
    assert.equal(ImageServiceService.streamImages.responseStream, true);
    assert.equal(ImagesService.pullImage.responseStream, true);
    assert.equal(RuntimeServiceService.version.responseStream, false);
    assert.equal(ImageServiceService.pullImage.responseStream, false);
  });

  it('encode as the generated codec does and decode it back, bigint fields included', () => {
    const req = { version: 'v1' };
    const bytes = RuntimeServiceService.version.requestSerialize(req);
    assert.ok(Buffer.isBuffer(bytes));
    assert.deepEqual([...bytes], [...VersionRequest.encode(req).finish()]);
    assert.deepEqual(RuntimeServiceService.version.requestDeserialize(bytes), req);

    const res = ListContainerStatsResponse.fromPartial({
      stats: [
        ContainerStats.fromPartial({
          cpu: { timestamp: 1_700_000_000_123_456_789n, usageCoreNanoSeconds: { value: 2n ** 62n } },
        }),
      ],
    });
    const encoded = RuntimeServiceService.listContainerStats.responseSerialize(res);
    const back = RuntimeServiceService.listContainerStats.responseDeserialize(encoded);
    assert.equal(back.stats[0]?.cpu?.timestamp, 1_700_000_000_123_456_789n);
    assert.equal(back.stats[0]?.cpu?.usageCoreNanoSeconds?.value, 2n ** 62n);
  });

  it('give each encoding a buffer of its own', () => {
    const a = RuntimeServiceService.version.requestSerialize({ version: 'a' });
    const b = RuntimeServiceService.version.requestSerialize({ version: 'b' });
    assert.notEqual(a.buffer, b.buffer);
    assert.equal(a.byteLength, a.buffer.byteLength);
  });
});

describe('cri clients', () => {
  it('have one method per table entry', () => {
    const creds = grpc.credentials.createInsecure();
    const clients = [
      [new RuntimeServiceClient('unix:///nonexistent.sock', creds), RuntimeServiceService],
      [new ImageServiceClient('unix:///nonexistent.sock', creds), ImageServiceService],
      [new ImagesClient('unix:///nonexistent.sock', creds), ImagesService],
    ] as const;
    for (const [client, table] of clients) {
      for (const key of Object.keys(table)) {
        assert.equal(typeof (client as unknown as Record<string, unknown>)[key], 'function', key);
      }
      client.close();
    }
  });
});
