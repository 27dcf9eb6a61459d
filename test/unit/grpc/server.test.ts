/**
 * ucri's gRPC server (pkg/grpc) on the wire: a raw node:http2 client sends exactly the frames under test and
 * reads the status trailers, so each gRPC-over-HTTP/2 rule is checked on its own (grpc-js and grpc-go
 * clients are covered by test/unit/cri/instrumented.test.ts and test/e2e/grpc-go-client.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import {
  encodeMessage,
  GrpcServer,
  parseTimeout,
  type ServerCall,
  Status,
  StatusError,
} from '../../../pkg/grpc/index.js';
import { configureLogging } from '../../../pkg/util/index.js';

configureLogging({ silent: true });

const MAX = 1024;
const text = {
  decode: (b: Buffer): string => b.toString('utf8'),
  encode: (s: string): Uint8Array => Buffer.from(s, 'utf8'),
};

function frame(body: Buffer, compressed = false): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed ? 1 : 0;
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

interface Outcome {
  httpStatus: number;
  status: number | undefined;
  message: string | undefined;
  messages: string[];
  headers: http2.IncomingHttpHeaders;
}

describe('gRPC server, with node:http2 as the client', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ucri-grpc-'));
  const sockPath = path.join(dir, 'grpc.sock');
  const server = new GrpcServer({ maxReceiveMessageLength: MAX, maxSendMessageLength: MAX });
  const netServer = net.createServer((sock) => server.serve(sock));
  const cancels = new Map<string, 'deadline' | 'cancelled'>();
  let release: (() => void) | undefined;
  let client: http2.ClientHttp2Session;

  before(async () => {
    server.add('/t.S/Echo', { kind: 'unary', ...text, handle: async (req) => req });
    server.add('/t.S/Fail', {
      kind: 'unary',
      ...text,
      handle: async (req: string) => {
        throw new StatusError(Status.NOT_FOUND, req);
      },
    });
    server.add('/t.S/Crash', {
      kind: 'unary',
      ...text,
      handle: async () => {
        throw new Error('boom');
      },
    });
    server.add('/t.S/Big', { kind: 'unary', ...text, handle: async () => 'x'.repeat(MAX + 1) });
    // Waits until cancelled (records why) or released.
    server.add('/t.S/Wait', {
      kind: 'unary',
      ...text,
      handle: (req: string, call: ServerCall) =>
        new Promise<string>((resolve) => {
          call.onCancel((why) => {
            cancels.set(req, why);
            resolve('late');
          });
          release = () => resolve('released');
        }),
    });
    server.add('/t.S/Count', {
      kind: 'server-stream',
      ...text,
      handle: async (req, _call, send) => {
        const n = Number(req);
        for (let i = 0; i < Math.abs(n); i++) send(String(i));
        if (n < 0) throw new StatusError(Status.ABORTED, 'stopped after %d');
      },
    });
    await new Promise<void>((resolve) => netServer.listen(sockPath, resolve));
    client = http2.connect('http://localhost', { createConnection: () => net.connect(sockPath) });
  });
  after(async () => {
    client?.close();
    await server.close(0);
    netServer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function call(
    method: string,
    body: Buffer | undefined,
    extra: http2.OutgoingHttpHeaders = {},
    session = client,
  ): { done: Promise<Outcome>; stream: http2.ClientHttp2Stream } {
    const stream = session.request({
      ':method': 'POST',
      ':path': method,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...extra,
    });
    const done = new Promise<Outcome>((resolve, reject) => {
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.on('response', (h) => {
        headers = h;
      });
      stream.on('trailers', (t) => {
        trailers = t;
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', reject);
      stream.on('close', () => {
        const data = Buffer.concat(chunks);
        const messages: string[] = [];
        for (let at = 0; at + 5 <= data.length; ) {
          const n = data.readUInt32BE(at + 1);
          messages.push(data.subarray(at + 5, at + 5 + n).toString('utf8'));
          at += 5 + n;
        }
        const st = trailers['grpc-status'] ?? headers['grpc-status'];
        resolve({
          httpStatus: Number(headers[':status']),
          status: st === undefined ? undefined : Number(st),
          message: (trailers['grpc-message'] ?? headers['grpc-message']) as string | undefined,
          messages,
          headers,
        });
      });
    });
    stream.end(body);
    return { done, stream };
  }

  it('answers a unary call with headers, its message and an OK status trailer', async () => {
    const r = await call('/t.S/Echo', frame(Buffer.from('hello'))).done;
    assert.equal(r.httpStatus, 200);
    assert.equal(r.headers['content-type'], 'application/grpc');
    assert.deepEqual(r.messages, ['hello']);
    assert.equal(r.status, Status.OK);
  });

  it('ends a failed call with its code and the message percent-encoded', async () => {
    const r = await call('/t.S/Fail', frame(Buffer.from('no "pod" 100% – here\n'))).done;
    assert.equal(r.status, Status.NOT_FOUND);
    assert.equal(r.message, encodeMessage('no "pod" 100% – here\n'));
    assert.equal(decodeURIComponent(r.message ?? ''), 'no "pod" 100% – here\n');
    assert.equal(encodeMessage('plain message'), 'plain message');
    assert.equal(encodeMessage('50%'), '50%25');
  });

  it('answers UNKNOWN to an error that is not a StatusError', async () => {
    const r = await call('/t.S/Crash', frame(Buffer.from(''))).done;
    assert.equal(r.status, Status.UNKNOWN);
    assert.equal(r.message, 'boom');
  });

  it('answers UNIMPLEMENTED to an unknown method', async () => {
    const r = await call('/t.S/Nope', frame(Buffer.from('x'))).done;
    assert.equal(r.status, Status.UNIMPLEMENTED);
    assert.match(r.message ?? '', /\/t\.S\/Nope/);
  });

  it('refuses a request that is not gRPC with HTTP 415', async () => {
    const r = await call('/t.S/Echo', Buffer.from('x'), { 'content-type': 'text/plain' }).done;
    assert.equal(r.httpStatus, 415);
  });

  it('refuses a too large request with RESOURCE_EXHAUSTED, and a too large response too', async () => {
    const big = await call('/t.S/Echo', frame(Buffer.alloc(MAX + 1, 0x61))).done;
    assert.equal(big.status, Status.RESOURCE_EXHAUSTED);
    const out = await call('/t.S/Big', frame(Buffer.from(''))).done;
    assert.equal(out.status, Status.RESOURCE_EXHAUSTED);
    assert.deepEqual(out.messages, []);
  });

  it('refuses a request without a message, or with two, as INTERNAL', async () => {
    assert.equal((await call('/t.S/Echo', Buffer.alloc(0)).done).status, Status.INTERNAL);
    const two = Buffer.concat([frame(Buffer.from('a')), frame(Buffer.from('b'))]);
    assert.equal((await call('/t.S/Echo', two).done).status, Status.INTERNAL);
  });

  it('decodes gzip and deflate requests and refuses an encoding it does not know', async () => {
    const gz = await call('/t.S/Echo', frame(zlib.gzipSync('zipped'), true), { 'grpc-encoding': 'gzip' }).done;
    assert.deepEqual(gz.messages, ['zipped']);
    const df = await call('/t.S/Echo', frame(zlib.deflateSync('deflated'), true), { 'grpc-encoding': 'deflate' }).done;
    assert.deepEqual(df.messages, ['deflated']);
    const bomb = await call('/t.S/Echo', frame(zlib.gzipSync(Buffer.alloc(MAX * 4)), true), {
      'grpc-encoding': 'gzip',
    }).done;
    assert.equal(bomb.status, Status.RESOURCE_EXHAUSTED);
    const snappy = await call('/t.S/Echo', frame(Buffer.from('x'), true), { 'grpc-encoding': 'snappy' }).done;
    assert.equal(snappy.status, Status.UNIMPLEMENTED);
    assert.match(String(snappy.headers['grpc-accept-encoding']), /gzip/);
    const noEncoding = await call('/t.S/Echo', frame(Buffer.from('x'), true)).done;
    assert.equal(noEncoding.status, Status.INTERNAL);
  });

  it('streams responses, then the status; a failing stream ends with its status after its messages', async () => {
    const ok = await call('/t.S/Count', frame(Buffer.from('3'))).done;
    assert.deepEqual(ok.messages, ['0', '1', '2']);
    assert.equal(ok.status, Status.OK);
    const failed = await call('/t.S/Count', frame(Buffer.from('-2'))).done;
    assert.deepEqual(failed.messages, ['0', '1']);
    assert.equal(failed.status, Status.ABORTED);
    assert.equal(failed.message, 'stopped after %25d');
  });

  it('ends a call at its grpc-timeout with DEADLINE_EXCEEDED and tells the implementation', async () => {
    const started = Date.now();
    const r = await call('/t.S/Wait', frame(Buffer.from('deadline')), { 'grpc-timeout': '150m' }).done;
    assert.equal(r.status, Status.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - started >= 140, 'not before the deadline');
    assert.equal(cancels.get('deadline'), 'deadline');
  });

  it('tells the implementation when the client resets the stream', async () => {
    const { stream, done } = call('/t.S/Wait', frame(Buffer.from('reset')));
    await new Promise((resolve) => setTimeout(resolve, 50));
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await done.catch(() => undefined);
    for (let i = 0; i < 100 && !cancels.has('reset'); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(cancels.get('reset'), 'cancelled');
  });

  it('parses grpc-timeout units and refuses malformed values', () => {
    assert.equal(parseTimeout('2S'), 2000);
    assert.equal(parseTimeout('1H'), 3_600_000);
    assert.equal(parseTimeout('5M'), 300_000);
    assert.equal(parseTimeout('250m'), 250);
    assert.equal(parseTimeout('1000u'), 1);
    assert.equal(parseTimeout('1000000n'), 1);
    assert.equal(parseTimeout('123456789S'), undefined); // more than 8 digits
    assert.equal(parseTimeout('10x'), undefined);
    assert.equal(parseTimeout('S'), undefined);
    assert.equal(parseTimeout(undefined), undefined);
  });

  it('shuts down gracefully: a call in flight finishes, new calls are refused, then it closes', async () => {
    const other = new GrpcServer({ maxReceiveMessageLength: MAX, maxSendMessageLength: MAX });
    let resolveSlow: ((s: string) => void) | undefined;
    other.add('/t.S/Slow', {
      kind: 'unary',
      ...text,
      handle: () =>
        new Promise<string>((resolve) => {
          resolveSlow = resolve;
        }),
    });
    const sock2 = path.join(dir, 'other.sock');
    const ns = net.createServer((s) => other.serve(s));
    await new Promise<void>((resolve) => ns.listen(sock2, resolve));
    const c2 = http2.connect('http://localhost', { createConnection: () => net.connect(sock2) });
    try {
      const slow = call('/t.S/Slow', frame(Buffer.from('s')), {}, c2);
      for (let i = 0; i < 100 && !resolveSlow; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(resolveSlow, 'the slow call started');
      const closing = other.close(5000);
      setTimeout(() => resolveSlow?.('finished'), 100);
      const r = await slow.done;
      assert.deepEqual(r.messages, ['finished']);
      assert.equal(r.status, Status.OK);
      await closing;
      // And a call that never finishes is cut at the end of the grace period.
      const third = new GrpcServer({ maxReceiveMessageLength: MAX, maxSendMessageLength: MAX });
      third.add('/t.S/Never', { kind: 'unary', ...text, handle: () => new Promise<string>(() => {}) });
      const sock3 = path.join(dir, 'third.sock');
      const ns3 = net.createServer((s) => third.serve(s));
      await new Promise<void>((resolve) => ns3.listen(sock3, resolve));
      const c3 = http2.connect('http://localhost', { createConnection: () => net.connect(sock3) });
      const never = call('/t.S/Never', frame(Buffer.from('n')), {}, c3);
      await new Promise((r) => setTimeout(r, 50));
      const started = Date.now();
      await third.close(200);
      await never.done.catch(() => undefined);
      assert.ok(Date.now() - started < 2000, 'closed after its grace period');
      c3.destroy();
      ns3.close();
    } finally {
      c2.destroy();
      ns.close();
    }
  });

  it('still serves after the calls above (released waiter answers nothing twice)', async () => {
    release?.();
    const r = await call('/t.S/Echo', frame(Buffer.from('again'))).done;
    assert.deepEqual(r.messages, ['again']);
  });
});
