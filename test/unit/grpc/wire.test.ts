/**
 * ucri's gRPC server and its HTTP/2 connection (pkg/h2 ServerConnection) frame by frame: a raw client on a
 * unix socket writes exactly the frames under test and reads the server's frames back. Covers what node's
 * HTTP/2 client in server.test.ts cannot be made to send: flow-control windows smaller than a response,
 * CONTINUATION, padding and priority, a Huffman / dynamic-table header block, resets, GOAWAY, malformed frames.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GrpcServer, type ServerCall } from '../../../pkg/grpc/index.js';
import {
  ACK,
  CONTINUATION,
  DATA,
  END_HEADERS,
  END_STREAM,
  encodeFrame,
  GOAWAY,
  HEADERS,
  PADDED,
  PING,
  PREFACE,
  PRIORITY,
  RST_STREAM,
  SETTINGS,
  WINDOW_UPDATE,
} from '../../../pkg/h2/frame.js';
import { field, type HeaderField, HpackDecoder, HpackEncoder } from '../../../pkg/h2/hpack.js';
import { huffmanEncode } from '../../../pkg/h2/huffman.js';
import { ServerConnection } from '../../../pkg/h2/server-connection.js';
import { configureLogging } from '../../../pkg/util/index.js';

configureLogging({ silent: true });

interface Frame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A client that speaks raw HTTP/2 frames. It acknowledges the server's SETTINGS and records every frame. */
class RawClient {
  readonly frames: Frame[] = [];
  readonly decoder = new HpackDecoder();
  readonly encoder = new HpackEncoder();
  #buf = Buffer.alloc(0);
  #taken = new Set<Frame>();
  closed = false;

  constructor(readonly sock: net.Socket) {
    sock.on('data', (chunk: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, chunk]);
      while (this.#buf.length >= 9) {
        const length = this.#buf.readUIntBE(0, 3);
        if (this.#buf.length < 9 + length) break;
        const f = {
          type: this.#buf[3]!,
          flags: this.#buf[4]!,
          id: this.#buf.readUInt32BE(5) & 0x7fffffff,
          payload: Buffer.from(this.#buf.subarray(9, 9 + length)),
        };
        this.#buf = this.#buf.subarray(9 + length);
        if (f.type === SETTINGS && !(f.flags & ACK)) this.send(SETTINGS, ACK, 0);
        this.frames.push(f);
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
    });
  }

  static async connect(sockPath: string, settings: Array<[number, number]> = []): Promise<RawClient> {
    const sock = net.connect(sockPath);
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const c = new RawClient(sock);
    sock.write(PREFACE);
    c.send(SETTINGS, 0, 0, settingsPayload(settings));
    return c;
  }

  send(type: number, flags: number, id: number, payload?: Uint8Array): void {
    this.sock.write(encodeFrame(type, flags, id, payload));
  }

  raw(bytes: Buffer): void {
    this.sock.write(bytes);
  }

  /** Waits for the next unread frame matching `pred`. */
  async next(pred: (f: Frame) => boolean, timeoutMs = 3000): Promise<Frame> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find((x) => !this.#taken.has(x) && pred(x));
      if (f) {
        this.#taken.add(f);
        return f;
      }
      if (Date.now() > until) throw new Error('timed out waiting for a frame');
      await sleep(5);
    }
  }

  /** All unread frames of stream `id` received so far. */
  pending(id: number): Frame[] {
    return this.frames.filter((f) => f.id === id && !this.#taken.has(f));
  }

  async goaway(timeoutMs = 3000): Promise<{ lastId: number; code: number }> {
    const f = await this.next((x) => x.type === GOAWAY, timeoutMs);
    return { lastId: f.payload.readUInt32BE(0), code: f.payload.readUInt32BE(4) };
  }

  async closedSoon(timeoutMs = 3000): Promise<void> {
    for (const until = Date.now() + timeoutMs; !this.closed; await sleep(5)) {
      if (Date.now() > until) throw new Error('connection still open');
    }
  }

  /** Decodes a header block (for the response's HEADERS, as name → value). */
  headers(block: Buffer): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of this.decoder.decode(block)) out[f.name.toString()] = f.value.toString();
    return out;
  }

  /** Reads stream `id` to its END_STREAM: response headers, DATA bytes, trailers. */
  async response(
    id: number,
    timeoutMs = 3000,
  ): Promise<{ headers: Record<string, string>; data: Buffer; trailers: Record<string, string> }> {
    const chunks: Buffer[] = [];
    let headers: Record<string, string> | undefined;
    for (;;) {
      const f = await this.next((x) => x.id === id && (x.type === HEADERS || x.type === DATA), timeoutMs);
      if (f.type === DATA) chunks.push(f.payload);
      else if (!headers && !(f.flags & END_STREAM)) headers = this.headers(f.payload);
      else {
        const t = this.headers(f.payload);
        return { headers: headers ?? t, data: Buffer.concat(chunks), trailers: t };
      }
      if (f.type === DATA && f.flags & END_STREAM) throw new Error('DATA with END_STREAM: no trailers');
    }
  }

  destroy(): void {
    this.sock.destroy();
  }
}

function settingsPayload(settings: Array<[number, number]>): Buffer {
  const p = Buffer.alloc(6 * settings.length);
  settings.forEach(([k, v], i) => {
    p.writeUInt16BE(k, i * 6);
    p.writeUInt32BE(v, i * 6 + 2);
  });
  return p;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function message(body: string | Buffer): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const head = Buffer.alloc(5);
  head.writeUInt32BE(b.length, 1);
  return Buffer.concat([head, b]);
}

function requestFields(method: string, extra: HeaderField[] = []): HeaderField[] {
  return [
    field(':method', 'POST'),
    field(':scheme', 'http'),
    field(':path', method),
    // The socket path as authority, as grpc-go before k8s 1.31 sends it: accepted.
    field(':authority', '/run/ucri/ucri.sock'),
    field('content-type', 'application/grpc'),
    field('te', 'trailers'),
    ...extra,
  ];
}

/** Sends a whole unary request on stream `id`: HEADERS, then one DATA with END_STREAM. */
function request(c: RawClient, id: number, method: string, body: string | Buffer, extra: HeaderField[] = []): void {
  c.send(HEADERS, END_HEADERS, id, c.encoder.encode(requestFields(method, extra)));
  c.send(DATA, END_STREAM, id, message(body));
}

const BIG = 200 * 1024;
const text = {
  decode: (b: Buffer): string => b.toString('utf8'),
  encode: (s: string): Uint8Array => Buffer.from(s, 'utf8'),
};

describe('gRPC server, HTTP/2 on the wire', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ucri-grpc-wire-'));
  const sockPath = path.join(dir, 'grpc.sock');
  const server = new GrpcServer({ maxReceiveMessageLength: 1 << 20, maxSendMessageLength: 1 << 20 });
  const netServer = net.createServer((sock) => server.serve(sock));
  const cancels = new Map<string, string>();
  const clients: RawClient[] = [];
  const connect = async (settings: Array<[number, number]> = []): Promise<RawClient> => {
    const c = await RawClient.connect(sockPath, settings);
    clients.push(c);
    return c;
  };

  before(async () => {
    server.add('/t.S/Echo', { kind: 'unary', ...text, handle: async (req) => req });
    server.add('/t.S/Large', { kind: 'unary', ...text, handle: async () => 'L'.repeat(BIG) });
    server.add('/t.S/Count', {
      kind: 'server-stream',
      ...text,
      handle: async (req, _call, send) => {
        for (let i = 0; i < Number(req); i++) send('m'.repeat(1000));
      },
    });
    server.add('/t.S/Wait', {
      kind: 'unary',
      ...text,
      handle: (req: string, call: ServerCall) =>
        new Promise<string>((resolve) => {
          call.onCancel((why) => {
            cancels.set(req, why);
            resolve('late');
          });
          if (req.startsWith('release')) setTimeout(() => resolve(req), Number(req.slice(7)));
        }),
    });
    await new Promise<void>((resolve) => netServer.listen(sockPath, resolve));
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await server.close(0);
    netServer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens with SETTINGS and a connection WINDOW_UPDATE, acknowledges ours and answers PING', async () => {
    const c = await connect();
    const s = await c.next((f) => f.type === SETTINGS && !(f.flags & ACK));
    assert.equal(s.payload.length % 6, 0);
    assert.ok((await c.next((f) => f.type === WINDOW_UPDATE && f.id === 0)).payload.readUInt32BE(0) > 0);
    await c.next((f) => f.type === SETTINGS && (f.flags & ACK) !== 0);
    c.send(PING, 0, 0, Buffer.from('12345678'));
    const pong = await c.next((f) => f.type === PING);
    assert.equal(pong.flags & ACK, ACK);
    assert.equal(pong.payload.toString(), '12345678');
  });

  it('answers a unary call in headers, data and trailers, with any :authority', async () => {
    const c = await connect();
    request(c, 1, '/t.S/Echo', 'hello');
    const r = await c.response(1);
    assert.equal(r.headers[':status'], '200');
    assert.equal(r.headers['content-type'], 'application/grpc');
    assert.equal(r.data.subarray(5).toString(), 'hello');
    assert.equal(r.trailers['grpc-status'], '0');
  });

  it('sends a response larger than the windows only as WINDOW_UPDATEs allow', async () => {
    const c = await connect(); // default windows: 65535 for the connection and each stream
    request(c, 1, '/t.S/Large', 'x');
    await c.next((f) => f.type === HEADERS && f.id === 1);
    await sleep(200);
    const first = c.pending(1);
    assert.ok(
      first.every((f) => f.type === DATA && f.payload.length <= 16384),
      'DATA frames within 16 KiB',
    );
    assert.equal(
      first.reduce((n, f) => n + f.payload.length, 0),
      65535,
      'exactly one window of DATA, then it waits',
    );
    // Open the stream's window only: the connection's is still spent, nothing more may come.
    c.send(WINDOW_UPDATE, 0, 1, u32(1 << 20));
    await sleep(100);
    assert.equal(c.pending(1).length, first.length);
    c.send(WINDOW_UPDATE, 0, 0, u32(1 << 20));
    const r = await c.response(1);
    assert.equal(r.data.length, 5 + BIG);
    assert.equal(r.data.subarray(5).toString(), 'L'.repeat(BIG));
    assert.equal(r.trailers['grpc-status'], '0');
  });

  it('keeps a stream whose own window is spent waiting while the connection window opens', async () => {
    const c = await connect();
    request(c, 1, '/t.S/Large', 'x');
    request(c, 3, '/t.S/Echo', 'small');
    await c.next((f) => f.type === HEADERS && f.id === 1);
    // Only the connection's window opens: stream 1 stays blocked on its own (a loop here once spun forever).
    c.send(WINDOW_UPDATE, 0, 0, u32(1 << 20));
    c.send(WINDOW_UPDATE, 0, 0, u32(1 << 20));
    c.send(PING, 0, 0, Buffer.from('stillok!'));
    assert.equal((await c.next((f) => f.type === PING && (f.flags & ACK) !== 0)).payload.toString(), 'stillok!');
    assert.equal((await c.response(3)).data.subarray(5).toString(), 'small');
    c.send(WINDOW_UPDATE, 0, 1, u32(1 << 20));
    assert.equal((await c.response(1)).data.length, 5 + BIG);
  });

  it('honours the client INITIAL_WINDOW_SIZE and MAX_FRAME_SIZE, for a server stream too', async () => {
    const c = await connect([
      [0x4, 3000],
      [0x5, 32768],
    ]);
    await c.next((f) => f.type === SETTINGS && (f.flags & ACK) !== 0);
    request(c, 1, '/t.S/Count', '50'); // 50 messages of 1005 bytes
    await c.next((f) => f.type === HEADERS && f.id === 1);
    await sleep(200);
    assert.equal(
      c.pending(1).reduce((n, f) => n + f.payload.length, 0),
      3000,
    );
    c.send(WINDOW_UPDATE, 0, 1, u32(100_000));
    const r = await c.response(1);
    assert.equal(r.data.length, 50 * 1005);
    assert.equal(r.trailers['grpc-status'], '0');
    // A window larger than a frame: frames up to the client's MAX_FRAME_SIZE.
    request(c, 3, '/t.S/Large', 'x');
    c.send(WINDOW_UPDATE, 0, 0, u32(1 << 20));
    c.send(WINDOW_UPDATE, 0, 3, u32(1 << 20));
    await c.next((f) => f.type === HEADERS && f.id === 3);
    const big = await c.response(3);
    assert.equal(big.data.length, 5 + BIG);
    assert.ok(c.frames.some((f) => f.type === DATA && f.id === 3 && f.payload.length > 16384));
    assert.ok(c.frames.every((f) => f.payload.length <= 32768));
  });

  it('serves node:http2 (nghttp2) clients large answers and server streams, 20 calls at once', async () => {
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(sockPath) });
    try {
      const one = (method: string, body: string): Promise<{ size: number; status: string | undefined }> =>
        new Promise((resolve, reject) => {
          const st = session.request({ ':method': 'POST', ':path': method, 'content-type': 'application/grpc' });
          let size = 0;
          let status: string | undefined;
          st.on('data', (c: Buffer) => {
            size += c.length;
          });
          st.on('trailers', (t) => {
            status = t['grpc-status'] as string;
          });
          st.on('error', reject);
          st.on('close', () => resolve({ size, status }));
          st.end(message(body));
        });
      const calls = [];
      for (let i = 0; i < 10; i++) calls.push(one('/t.S/Large', 'x'), one('/t.S/Count', '100'));
      const results = await Promise.all(calls);
      for (let i = 0; i < results.length; i++) {
        assert.deepEqual(results[i], { size: i % 2 === 0 ? 5 + BIG : 100 * 1005, status: '0' });
      }
    } finally {
      session.destroy();
    }
  });

  it('reads a header block in HEADERS (padded, with priority) and CONTINUATION frames', async () => {
    const c = await connect();
    const block = c.encoder.encode(requestFields('/t.S/Echo', [field('x-filler', 'f'.repeat(300))]));
    const pad = 7;
    const head = Buffer.concat([
      Buffer.from([pad]),
      u32(0),
      Buffer.from([15]),
      block.subarray(0, 10),
      Buffer.alloc(pad),
    ]);
    c.send(HEADERS, PADDED | PRIORITY, 1, head);
    c.send(CONTINUATION, 0, 1, block.subarray(10, 100));
    c.send(CONTINUATION, END_HEADERS, 1, block.subarray(100));
    // A padded DATA frame carries the message.
    c.send(DATA, PADDED | END_STREAM, 1, Buffer.concat([Buffer.from([3]), message('cont'), Buffer.alloc(3)]));
    const r = await c.response(1);
    assert.equal(r.data.subarray(5).toString(), 'cont');
  });

  it('decodes Huffman strings and dynamic table references from the client', async () => {
    const c = await connect();
    const huff = (s: string): Buffer => {
      const h = huffmanEncode(Buffer.from(s));
      assert.ok(h.length < 127);
      return Buffer.concat([Buffer.from([0x80 | h.length]), h]);
    };
    // Literal with incremental indexing, name indexed (:path = 4, content-type = 31), value Huffman-coded.
    const first = Buffer.concat([
      Buffer.from([0x83, 0x86]), // :method POST, :scheme http
      Buffer.from([0x44]),
      huff('/t.S/Echo'),
      Buffer.from([0x40 | 31]),
      huff('application/grpc'),
      Buffer.from([0x41]), // :authority, value indexed too
      huff('/run/ucri/ucri.sock'),
    ]);
    c.send(HEADERS, END_HEADERS, 1, first);
    c.send(DATA, END_STREAM, 1, message('one'));
    assert.equal((await c.response(1)).data.subarray(5).toString(), 'one');
    // The second request names the same fields by their dynamic table index (62 newest .. 64 oldest).
    c.send(HEADERS, END_HEADERS, 3, Buffer.from([0x83, 0x86, 0x80 | 64, 0x80 | 63, 0x80 | 62]));
    c.send(DATA, END_STREAM, 3, message('two'));
    assert.equal((await c.response(3)).data.subarray(5).toString(), 'two');
  });

  it('cancels a call whose stream the client resets, and keeps the connection', async () => {
    const c = await connect();
    request(c, 1, '/t.S/Wait', 'rst');
    await sleep(50);
    c.send(RST_STREAM, 0, 1, u32(0x8));
    for (let i = 0; i < 100 && !cancels.has('rst'); i++) await sleep(10);
    assert.equal(cancels.get('rst'), 'cancelled');
    request(c, 3, '/t.S/Echo', 'after');
    assert.equal((await c.response(3)).data.subarray(5).toString(), 'after');
    assert.ok(!c.frames.some((f) => f.id === 1 && f.type !== RST_STREAM && f.type !== WINDOW_UPDATE));
  });

  it('ends a call at its deadline with a trailers-only DEADLINE_EXCEEDED', async () => {
    const c = await connect();
    const started = Date.now();
    request(c, 1, '/t.S/Wait', 'deadline', [field('grpc-timeout', '100m')]);
    const r = await c.response(1);
    assert.ok(Date.now() - started >= 90);
    assert.equal(r.trailers['grpc-status'], '4');
    assert.equal(r.trailers[':status'], '200');
    assert.equal(cancels.get('deadline'), 'deadline');
  });

  it('answers a request that is still arriving, then resets the stream with NO_ERROR', async () => {
    const c = await connect();
    c.send(HEADERS, END_HEADERS, 1, c.encoder.encode(requestFields('/t.S/Nope')));
    const r = await c.response(1);
    assert.equal(r.trailers['grpc-status'], '12');
    const rst = await c.next((f) => f.type === RST_STREAM && f.id === 1);
    assert.equal(rst.payload.readUInt32BE(0), 0);
    c.send(DATA, END_STREAM, 1, message('late')); // dropped, not an error
    // A request with no body at all is answered without a reset.
    c.send(HEADERS, END_HEADERS | END_STREAM, 5, c.encoder.encode(requestFields('/t.S/Nope')));
    assert.equal((await c.response(5)).trailers['grpc-status'], '12');
    request(c, 7, '/t.S/Echo', 'still');
    assert.equal((await c.response(7)).data.subarray(5).toString(), 'still');
    assert.ok(!c.frames.some((f) => f.type === RST_STREAM && f.id === 5));
  });

  for (const [name, send, code] of [
    ['DATA on stream 0', (c: RawClient) => c.send(DATA, 0, 0, Buffer.from('x')), 0x1],
    ['HEADERS on an even stream', (c: RawClient) => c.send(HEADERS, END_HEADERS, 2, Buffer.from([0x82])), 0x1],
    ['a PING of 7 bytes', (c: RawClient) => c.send(PING, 0, 0, Buffer.alloc(7)), 0x6],
    ['a frame over 16384 bytes', (c: RawClient) => c.send(0xfa, 0, 0, Buffer.alloc(16385)), 0x6],
    ['an HPACK index 0', (c: RawClient) => c.send(HEADERS, END_HEADERS, 1, Buffer.from([0x80])), 0x9],
    ['a SETTINGS frame on a stream', (c: RawClient) => c.send(SETTINGS, 0, 1), 0x1],
    ['a WINDOW_UPDATE past 2^31-1', (c: RawClient) => c.send(WINDOW_UPDATE, 0, 0, u32(0x7fffffff)), 0x3],
    ['a WINDOW_UPDATE of 0 on the connection', (c: RawClient) => c.send(WINDOW_UPDATE, 0, 0, u32(0)), 0x1],
    ['DATA on an idle stream', (c: RawClient) => c.send(DATA, 0, 5, Buffer.from('x')), 0x1],
    [
      'HEADERS reusing a finished stream id',
      (c: RawClient) => {
        c.send(HEADERS, END_HEADERS | END_STREAM, 3, c.encoder.encode(requestFields('/t.S/Nope')));
        c.send(HEADERS, END_HEADERS | END_STREAM, 1, c.encoder.encode(requestFields('/t.S/Nope')));
      },
      0x1,
    ],
    ['a PUSH_PROMISE', (c: RawClient) => c.send(0x5, END_HEADERS, 1, u32(2)), 0x1],
    [
      'a HEADERS block interrupted before its CONTINUATION',
      (c: RawClient) => {
        c.send(HEADERS, 0, 1, Buffer.from([0x83]));
        c.send(PING, 0, 0, Buffer.alloc(8));
      },
      0x1,
    ],
    [
      'a CONTINUATION without HEADERS',
      (c: RawClient) => c.send(CONTINUATION, END_HEADERS, 1, Buffer.from([0x83])),
      0x1,
    ],
    [
      'a header list over the limit',
      (c: RawClient) => {
        const big = c.encoder.encode(requestFields('/t.S/Echo', [field('x-big', 'b'.repeat(16000))]));
        c.send(HEADERS, 0, 1, big.subarray(0, 16000));
        for (let i = 0; i < 5; i++) c.send(CONTINUATION, 0, 1, Buffer.alloc(16000, 0x40));
      },
      0xb,
    ],
    [
      'DATA with padding longer than the frame',
      (c: RawClient) => {
        request(c, 1, '/t.S/Wait', 'pad');
        c.send(DATA, PADDED, 1, Buffer.from([9, 1, 2]));
      },
      0x1,
    ],
  ] as const) {
    it(`sends GOAWAY and closes the connection for ${name}`, async () => {
      const c = await connect();
      await c.next((f) => f.type === SETTINGS && (f.flags & ACK) !== 0);
      send(c);
      const g = await c.goaway();
      assert.equal(g.code, code);
      await c.closedSoon();
    });
  }

  it('ends a connection that opens and resets streams faster than 1000 a second', async () => {
    const c = await connect();
    await c.next((f) => f.type === SETTINGS && (f.flags & ACK) !== 0);
    const block = c.encoder.encode(requestFields('/t.S/Wait'));
    const burst: Buffer[] = [];
    for (let id = 1; id <= 2 * 1001; id += 2) {
      burst.push(encodeFrame(HEADERS, END_HEADERS, id, block), encodeFrame(RST_STREAM, 0, id, u32(0x8)));
    }
    c.raw(Buffer.concat(burst));
    assert.equal((await c.goaway()).code, 0xb);
    await c.closedSoon();
  });

  it('closes a connection that does not start with the client preface', async () => {
    const sock = net.connect(sockPath);
    const c = new RawClient(sock);
    clients.push(c);
    c.raw(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.equal((await c.goaway()).code, 0x1);
    await c.closedSoon();
  });

  it('refuses streams over MAX_CONCURRENT_STREAMS with REFUSED_STREAM', async () => {
    const p = path.join(dir, 'conn.sock');
    const seen: number[] = [];
    const ns = net.createServer((sock) => {
      const conn = new ServerConnection(sock, { maxConcurrentStreams: 1 });
      conn.onStream = (stream) => {
        seen.push(stream.id);
      };
    });
    await new Promise<void>((resolve) => ns.listen(p, resolve));
    try {
      const c = await RawClient.connect(p);
      clients.push(c);
      c.send(HEADERS, END_HEADERS, 1, c.encoder.encode(requestFields('/a')));
      c.send(HEADERS, END_HEADERS, 3, c.encoder.encode(requestFields('/b')));
      const rst = await c.next((f) => f.type === RST_STREAM);
      assert.equal(rst.id, 3);
      assert.equal(rst.payload.readUInt32BE(0), 0x7);
      assert.deepEqual(seen, [1]);
    } finally {
      ns.close();
    }
  });

  it('on close, sends GOAWAY naming the last stream, finishes the call in flight, then closes', async () => {
    const other = new GrpcServer({ maxReceiveMessageLength: 1024, maxSendMessageLength: 1024 });
    other.add('/t.S/Slow', {
      kind: 'unary',
      ...text,
      handle: (req: string) => new Promise<string>((resolve) => setTimeout(() => resolve(req), 150)),
    });
    const p = path.join(dir, 'close.sock');
    const ns = net.createServer((s) => other.serve(s));
    await new Promise<void>((resolve) => ns.listen(p, resolve));
    try {
      const c = await RawClient.connect(p);
      clients.push(c);
      request(c, 1, '/t.S/Slow', 'slow');
      await sleep(30);
      const closing = other.close(3000);
      const g = await c.goaway();
      assert.deepEqual(g, { lastId: 1, code: 0 });
      // A stream opened after the GOAWAY is not processed.
      request(c, 3, '/t.S/Slow', 'ignored');
      const r = await c.response(1);
      assert.equal(r.data.subarray(5).toString(), 'slow');
      assert.equal(r.trailers['grpc-status'], '0');
      await c.closedSoon();
      await closing;
      assert.equal(c.pending(3).length, 0);
    } finally {
      ns.close();
    }
  });
});
