/**
 * The unix-socket `:authority` trap, end to end: a real grpc-go 1.33 client (test/probe) that dials the
 * socket as crictl 1.26 does, against a real grpc-js server, without and with fixAuthority.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { type AuthorityFixStream, fixAuthority } from '../../../pkg/h2/index.js';
import { buildProbe, runProbe } from '../../support/probe.js';

// A real grpc-js Server with a handwritten RuntimeService/Version on raw Buffers, accepting connections on a
// unix socket through net.createServer + the connection injector, with or without fixAuthority.

const identity = (b: Buffer): Buffer => b;

/** The one-method service, messages as raw protobuf bytes. */
export const versionService: grpc.ServiceDefinition = {
  Version: {
    path: '/runtime.v1.RuntimeService/Version',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/** Encodes string fields 1..n of a protobuf message (lengths < 128 only, enough here). */
export function encodeStrings(values: string[]): Buffer {
  const parts: Buffer[] = [];
  values.forEach((v, i) => {
    const b = Buffer.from(v, 'utf8');
    if (b.length > 127) throw new Error('encodeStrings: test strings must be short');
    parts.push(Buffer.from([((i + 1) << 3) | 2, b.length]), b);
  });
  return Buffer.concat(parts);
}

/** Reads field 1 (string) of a message made by encodeStrings or a real client. */
export function decodeFirstString(msg: Buffer): string {
  if (msg.length < 2 || msg[0] !== 0x0a) return '';
  return msg.subarray(2, 2 + msg[1]!).toString('utf8');
}

export interface VersionServer {
  socketPath: string;
  /** `:authority` values the handler saw, in call order. */
  hosts: string[];
  /** Wrapped connections (only when started with the fix). */
  wrapped: AuthorityFixStream[];
  close(): Promise<void>;
}

/** Starts the server in a fresh temp dir; `fix` says whether connections go through fixAuthority. */
export async function startVersionServer(fix: boolean): Promise<VersionServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ucri-h2-'));
  const socketPath = path.join(dir, 'ucri.sock');
  const hosts: string[] = [];
  const wrapped: AuthorityFixStream[] = [];
  const server = new grpc.Server();
  server.addService(versionService, {
    Version: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      hosts.push(call.getHost());
      const asked = decodeFirstString(call.request);
      cb(null, encodeStrings([asked, 'ucri-test', '0.0.1', 'v1']));
    },
  });
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const sockets = new Set<net.Socket>();
  const listener = net.createServer((sock) => {
    sockets.add(sock);
    sock.once('close', () => sockets.delete(sock));
    if (fix) {
      const stream = fixAuthority(sock);
      wrapped.push(stream);
      injector.injectConnection(stream);
    } else {
      injector.injectConnection(sock);
    }
  });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(socketPath, () => resolve());
  });
  return {
    socketPath,
    hosts,
    wrapped,
    close: async () => {
      injector.destroy();
      server.forceShutdown();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A grpc-js client of the service over the socket; call `close()` when done. */
export function nodeClient(socketPath: string): {
  version(v: string): Promise<Buffer>;
  close(): void;
} {
  const Ctor = grpc.makeGenericClientConstructor(versionService, 'RuntimeService');
  const client = new Ctor(`unix:${socketPath}`, grpc.credentials.createInsecure());
  return {
    version: (v: string) =>
      new Promise<Buffer>((resolve, reject) => {
        client.makeUnaryRequest<Buffer, Buffer>(
          '/runtime.v1.RuntimeService/Version',
          identity,
          identity,
          encodeStrings([v]),
          (err, res) => (err || !res ? reject(err ?? new Error('no response')) : resolve(res)),
        );
      }),
    close: () => client.close(),
  };
}

before(async () => {
  await buildProbe();
});

describe('without fixAuthority', () => {
  let srv: VersionServer;
  before(async () => {
    srv = await startVersionServer(false);
  });
  after(() => srv.close());

  it('grpc-go with the socket path as :authority is refused by nghttp2', async () => {
    const res = await runProbe(['-socket', srv.socketPath, 'version']);
    assert.notEqual(res.code, 0, `probe unexpectedly succeeded: ${res.stdout}`);
    assert.match(res.stderr, /code=Internal .*PROTOCOL_ERROR/);
    assert.deepEqual(srv.hosts, [], 'the handler must never have run');
  });
});

describe('with fixAuthority', () => {
  let srv: VersionServer;
  before(async () => {
    srv = await startVersionServer(true);
  });
  after(() => srv.close());

  it('probe version succeeds and the handler sees localhost', async () => {
    const res = await runProbe(['-socket', srv.socketPath, 'version']);
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(JSON.parse(res.stdout), {
      version: 'v1',
      runtime_name: 'ucri-test',
      runtime_version: '0.0.1',
      runtime_api_version: 'v1',
    });
    assert.deepEqual(srv.hosts, ['localhost']);
  });

  it('50 calls on one connection all succeed (dynamic table reused across requests)', async () => {
    const before = srv.hosts.length;
    const conns = srv.wrapped.length;
    const res = await runProbe(['-socket', srv.socketPath, '-n', '50', 'version']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(srv.hosts.length - before, 50);
    assert.equal(srv.wrapped.length - conns, 1, 'all calls share one connection');
    assert.equal(srv.wrapped.at(-1)?.rewrites, 50);
  });

  it('raw subcommand returns the response bytes', async () => {
    const res = await runProbe(['-socket', srv.socketPath, 'raw', '/runtime.v1.RuntimeService/Version', '0a027632']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(decodeFirstString(Buffer.from(res.stdout.trim(), 'hex')), 'v2');
  });

  it('an unknown method fails with UNIMPLEMENTED from grpc-js', async () => {
    const res = await runProbe(['-socket', srv.socketPath, 'raw', '/runtime.v1.RuntimeService/Nope', '']);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /code=Unimplemented/);
  });

  it('malformed HPACK drops only that connection', async () => {
    const sock = net.connect(srv.socketPath);
    const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    sock.on('error', () => {});
    sock.resume(); // read, or the server's close is never seen
    // Preface, empty SETTINGS, then HEADERS (END_STREAM|END_HEADERS) naming dynamic index 62 of an empty table.
    const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
    const headers = Buffer.from([0, 0, 1, 1, 5, 0, 0, 0, 1, 0xbe]);
    sock.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), settings, headers]));
    await closed;
    const res = await runProbe(['-socket', srv.socketPath, 'version']);
    assert.equal(res.code, 0, res.stderr);
  });

  it('a grpc-js client still works', async () => {
    const client = nodeClient(srv.socketPath);
    try {
      for (let i = 0; i < 20; i++) {
        const res = await client.version(`n${i}`);
        assert.equal(decodeFirstString(res), `n${i}`);
      }
    } finally {
      client.close();
    }
    assert.equal(srv.hosts.at(-1), 'localhost');
  });
});
