import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { field, fixAuthority, type HeaderField, HpackDecoder, HpackEncoder } from '../../../pkg/h2/index.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
  raw: Buffer;
}

/** Splits `buf` (after the preface) into complete frames; a partial trailing frame is ignored. */
function parseFrames(buf: Buffer): Frame[] {
  const frames: Frame[] = [];
  let p = PREFACE.length;
  while (p + 9 <= buf.length) {
    const len = buf.readUIntBE(p, 3);
    if (p + 9 + len > buf.length) break;
    frames.push({
      type: buf[p + 3]!,
      flags: buf[p + 4]!,
      stream: buf.readUInt32BE(p + 5) & 0x7fffffff,
      payload: buf.subarray(p + 9, p + 9 + len),
      raw: buf.subarray(p, p + 9 + len),
    });
    p += 9 + len;
  }
  return frames;
}

interface Block {
  stream: number;
  flags: number;
  priority: Buffer | null;
  block: Buffer;
  frames: Frame[];
}

/** Reassembles header blocks (HEADERS + CONTINUATION), dropping padding; returns blocks and other frames. */
function headerBlocks(frames: Frame[]): { blocks: Block[]; others: Frame[] } {
  const blocks: Block[] = [];
  const others: Frame[] = [];
  let open: Block | null = null;
  for (const f of frames) {
    if (f.type === 1) {
      let start = 0;
      let end = f.payload.length;
      if (f.flags & 0x8) {
        end -= f.payload[0]!;
        start = 1;
      }
      const priority = f.flags & 0x20 ? Buffer.from(f.payload.subarray(start, start + 5)) : null;
      if (priority) start += 5;
      open = { stream: f.stream, flags: f.flags, priority, block: f.payload.subarray(start, end), frames: [f] };
    } else if (f.type === 9 && open) {
      open.block = Buffer.concat([open.block, f.payload]);
      open.frames.push(f);
    } else {
      others.push(f);
      continue;
    }
    if (f.flags & 0x4) {
      blocks.push(open);
      open = null;
    }
  }
  return { blocks, others };
}

const asPairs = (fields: HeaderField[]): string[] =>
  fields.map((f) => `${f.name.toString('latin1')}: ${f.value.toString('latin1')}`);

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** Two connected in-memory duplexes. */
function duplexPair(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const make = (peer: () => Duplex): Duplex =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        peer().push(chunk);
        cb();
      },
      final(cb) {
        peer().push(null);
        cb();
      },
      destroy(err, cb) {
        if (!peer().destroyed) peer().destroy();
        cb(err);
      },
    });
  sides.push(
    make(() => sides[1]!),
    make(() => sides[0]!),
  );
  return [sides[0]!, sides[1]!];
}

/** A stand-in for the accepted socket: the test pushes client bytes, writes are recorded. */
class FakeSocket extends Duplex {
  written: Buffer[] = [];
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.written.push(chunk);
    cb();
  }
}

/** Runs `input` through fixAuthority in chunks of the given sizes; resolves with everything read. */
async function runFix(
  input: Buffer,
  size: (i: number) => number,
  options: Parameters<typeof fixAuthority>[1] = {},
): Promise<Buffer> {
  const sock = new FakeSocket();
  const fixed = fixAuthority(sock, options);
  const out: Buffer[] = [];
  fixed.on('data', (d: Buffer) => out.push(d));
  const ended = once(fixed, 'end');
  for (let p = 0, i = 0; p < input.length; i++) {
    const n = Math.max(1, size(i));
    sock.push(input.subarray(p, p + n));
    p += n;
  }
  sock.push(null);
  await ended;
  fixed.destroy();
  return Buffer.concat(out);
}

/** Requests a Node http2 client (nghttp2's encoder: Huffman, indexing) sends; see captureClient. */
const REQUESTS: Array<Record<string, string>> = Array.from({ length: 14 }, (_, i) => ({
  ':authority': i % 3 === 0 ? 'example.com:8080' : '/run/ucri/ucri.sock',
  ':path': `/runtime.v1.RuntimeService/Call${i % 4}`,
  'content-type': 'application/grpc',
  'x-rotating': `value-${i}-${'r'.repeat(60 + i)}`, // forces inserts, and evictions at table size 256
  'x-secret': `s${i}`,
  ...(i === 7 ? { 'x-huge': '{'.repeat(20000) } : {}), // ~37 KB Huffman-coded: HEADERS + CONTINUATIONs
}));

/** Captures the bytes a real Node http2 client writes for REQUESTS, after the server lowered its table to 256. */
async function captureClient(): Promise<Buffer> {
  const [clientSide, serverSide] = duplexPair();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve) => {
    serverSide.on('data', (d: Buffer) => {
      chunks.push(d);
      const { blocks } = headerBlocks(parseFrames(Buffer.concat(chunks)));
      if (blocks.length === REQUESTS.length) resolve();
    });
  });
  // SETTINGS_HEADER_TABLE_SIZE = 256: the client's encoder must send a size update and evict often.
  const settings = Buffer.alloc(6);
  settings.writeUInt16BE(1, 0);
  settings.writeUInt32BE(256, 2);
  serverSide.write(frame(4, 0, 0, settings));
  const session = http2.connect('http://localhost', { createConnection: () => clientSide });
  session.on('error', () => {});
  await once(session, 'remoteSettings');
  for (const headers of REQUESTS) {
    const req = session.request({ ...headers, [http2.sensitiveHeaders]: ['x-secret'] }, { endStream: false });
    req.on('error', () => {});
  }
  await done;
  session.destroy();
  serverSide.destroy();
  return Buffer.concat(chunks);
}

describe('fixAuthority', () => {
  let captured: Buffer;
  let original: HeaderField[][];

  it('decodes a real client: Huffman, size update, eviction, never-indexed, CONTINUATION', async () => {
    captured = await captureClient();
    const { blocks } = headerBlocks(parseFrames(captured));
    assert.equal(blocks.length, REQUESTS.length);
    assert.ok(
      blocks.some((b) => b.frames.length > 1),
      'the huge request must arrive as HEADERS + CONTINUATION',
    );
    const dec = new HpackDecoder();
    original = blocks.map((b) => dec.decode(b.block));
    original.forEach((fields, i) => {
      const got = new Map(fields.map((f) => [f.name.toString('latin1'), f.value.toString('latin1')]));
      for (const [k, v] of Object.entries(REQUESTS[i]!)) assert.equal(got.get(k), v, `request ${i} ${k}`);
      assert.equal(got.get(':method'), 'GET');
      assert.equal(fields.find((f) => f.name.toString() === 'x-secret')?.sensitive, true);
    });
    assert.ok(dec.tableSize <= 256, `table size ${dec.tableSize} above the 256 the server set`);
    assert.ok(dec.tableLength > 0);
  });

  it('rewrites every block, passes other frames byte for byte, in any chunking', async () => {
    const pseudoRandom = (i: number): number => ((i * 7919 + 13) % 97) + 1;
    const chunkings: Array<(i: number) => number> = [() => captured.length, () => 1, () => 9, () => 10, pseudoRandom];
    const outputs: Buffer[] = [];
    for (const size of chunkings) outputs.push(await runFix(captured, size));
    for (const out of outputs.slice(1)) assert.ok(out.equals(outputs[0]!), 'output depends on chunking');

    const out = outputs[0]!;
    assert.ok(out.subarray(0, PREFACE.length).equals(PREFACE));
    const inFrames = headerBlocks(parseFrames(captured));
    const outFrames = parseFrames(out);
    for (const f of outFrames) assert.ok(f.payload.length <= 16384, `frame of ${f.payload.length} bytes`);
    const outParsed = headerBlocks(outFrames);
    assert.deepEqual(
      outParsed.others.map((f) => f.raw.toString('hex')),
      inFrames.others.map((f) => f.raw.toString('hex')),
    );
    const dec = new HpackDecoder();
    assert.equal(outParsed.blocks.length, original.length);
    outParsed.blocks.forEach((b, i) => {
      const inBlock = inFrames.blocks[i]!;
      assert.equal(b.stream, inBlock.stream);
      assert.equal(b.flags & 0x1, inBlock.flags & 0x1, 'END_STREAM kept');
      const expected = asPairs(original[i]!).map((p) => (p.startsWith(':authority: /') ? ':authority: localhost' : p));
      const fields = dec.decode(b.block);
      assert.deepEqual(asPairs(fields), expected);
      assert.deepEqual(
        fields.map((f) => f.sensitive),
        original[i]!.map((f) => f.sensitive),
      );
      assert.equal(dec.tableLength, 0, 'the encoder must never index');
    });
    assert.ok(
      outParsed.blocks.some((b) => b.frames.length > 1),
      'a >16 KiB block leaves as HEADERS + CONTINUATION',
    );
  });

  it('drops padding, keeps priority, and splits a big block with priority only on HEADERS', async () => {
    const enc = new HpackEncoder({ huffman: true });
    const block = enc.encode([
      field(':method', 'POST'),
      field(':path', '/x'),
      field(':authority', '/run/x.sock'),
      field('x-big', 'Z'.repeat(30000)),
    ]);
    const priority = Buffer.from([0x80, 0, 0, 3, 15]);
    const pad = 7;
    const first = Buffer.concat([Buffer.from([pad]), priority, block.subarray(0, 10000), Buffer.alloc(pad)]);
    const input = Buffer.concat([
      PREFACE,
      frame(4, 0, 0, Buffer.alloc(0)),
      frame(1, 0x1 | 0x8 | 0x20, 1, first),
      frame(9, 0, 1, block.subarray(10000, 20000)),
      frame(9, 0x4, 1, block.subarray(20000)),
      frame(0, 0x1, 3, Buffer.from('tail')),
    ]);
    const out = parseFrames(await runFix(input, () => 4096));
    assert.deepEqual(
      out.map((f) => [f.type, f.flags, f.stream]),
      [
        [4, 0, 0],
        [1, 0x1 | 0x20, 1],
        [9, 0x4, 1],
        [0, 0x1, 3],
      ],
    );
    assert.ok(out[1]!.payload.subarray(0, 5).equals(priority));
    const { blocks } = headerBlocks(out);
    assert.deepEqual(asPairs(new HpackDecoder().decode(blocks[0]!.block)), [
      ':method: POST',
      ':path: /x',
      ':authority: localhost',
      `x-big: ${'Z'.repeat(30000)}`,
    ]);
  });

  it('leaves a valid authority and non-HTTP/2 bytes alone', async () => {
    const block = new HpackEncoder().encode([field(':authority', 'node-1.example:10250'), field('host', 'a/b')]);
    const out = await runFix(Buffer.concat([PREFACE, frame(1, 0x5, 1, block)]), () => 3);
    const { blocks } = headerBlocks(parseFrames(out));
    assert.deepEqual(asPairs(new HpackDecoder().decode(blocks[0]!.block)), [
      ':authority: node-1.example:10250',
      'host: localhost',
    ]);
    const http1 = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.ok((await runFix(http1, () => 5)).equals(http1));
  });

  it('drops the first SETTINGS ACK when asked, in any chunking, and only that one', async () => {
    const ack = frame(4, 0x1, 0, Buffer.alloc(0));
    const settings = frame(4, 0, 0, Buffer.from([0, 4, 0, 1, 0, 0]));
    const ping = frame(6, 0, 0, Buffer.alloc(8, 7));
    const input = Buffer.concat([PREFACE, settings, ping, ack, ping, ack]);
    const want = Buffer.concat([PREFACE, settings, ping, ping, ack]);
    for (const n of [1, 2, 5, 9, 10, 1000]) {
      assert.ok((await runFix(input, () => n, { dropSettingsAck: true })).equals(want), `chunks of ${n}`);
      assert.ok((await runFix(input, () => n)).equals(input), `chunks of ${n}, no drop`);
    }
  });

  const broken: Array<[string, Buffer, RegExp]> = [
    ['malformed HPACK', frame(1, 0x5, 1, Buffer.from([0xbe])), /beyond the dynamic table/],
    [
      'DATA inside a header block',
      Buffer.concat([frame(1, 0, 1, Buffer.from([0x82])), frame(0, 0, 1, Buffer.alloc(1))]),
      /inside a header block/,
    ],
    ['CONTINUATION without HEADERS', frame(9, 0x4, 1, Buffer.from([0x82])), /CONTINUATION without HEADERS/],
    ['PUSH_PROMISE from a client', frame(5, 0x4, 1, Buffer.alloc(4)), /PUSH_PROMISE/],
    ['padding longer than the payload', frame(1, 0x4 | 0x8, 1, Buffer.from([9, 0x82])), /padding/],
  ];
  for (const [name, bytes, re] of broken) {
    it(`destroys the connection on ${name}`, async () => {
      const sock = new FakeSocket();
      const fixed = fixAuthority(sock);
      fixed.resume();
      sock.push(Buffer.concat([PREFACE, bytes]));
      const [err] = (await once(fixed, 'error')) as [Error];
      assert.match(err.message, re);
      assert.equal(sock.destroyed, true);
    });
  }

  it('writes go to the socket; end, close and errors propagate; a slow reader pauses the socket', async () => {
    const sock = new FakeSocket();
    const fixed = fixAuthority(sock);
    fixed.write(Buffer.from('server bytes'));
    fixed.end();
    await once(fixed, 'finish');
    assert.equal(Buffer.concat(sock.written).toString(), 'server bytes');

    // Nobody reads: after the readable buffer fills, the socket must be paused.
    sock.push(PREFACE);
    const data = frame(0, 0, 1, Buffer.alloc(16000));
    for (let i = 0; i < 8; i++) sock.push(data);
    for (let i = 0; i < 100 && !sock.isPaused(); i++) await new Promise(setImmediate);
    assert.equal(sock.isPaused(), true);
    let got = 0;
    fixed.on('data', (d: Buffer) => {
      got += d.length;
    });
    const closed = once(fixed, 'close');
    sock.push(null);
    await once(fixed, 'end');
    assert.equal(got, PREFACE.length + 8 * data.length);
    await closed;
    assert.equal(sock.destroyed, true);

    const sock2 = new FakeSocket();
    const fixed2 = fixAuthority(sock2);
    sock2.destroy(new Error('boom'));
    const [err] = (await once(fixed2, 'error')) as [Error];
    assert.equal(err.message, 'boom');

    const sock3 = new FakeSocket();
    fixAuthority(sock3).destroy();
    assert.equal(sock3.destroyed, true);
  });
});

describe('fixAuthority in front of a real nghttp2 server', () => {
  for (const fix of [false, true]) {
    it(
      fix ? 'accepts a unix-socket authority after the fix' : 'refuses a unix-socket authority without the fix',
      async () => {
        const server = http2.createServer();
        const seen: string[] = [];
        server.on('stream', (stream, headers) => {
          seen.push(`${headers[':authority']} ${String(headers['x-big']).length}`);
          stream.respond({ ':status': 200 });
          stream.end('ok');
        });
        const [clientSide, serverSide] = duplexPair();
        server.emit('connection', fix ? fixAuthority(serverSide) : serverSide);
        const session = http2.connect('http://localhost', { createConnection: () => clientSide });
        session.on('error', () => {});
        try {
          const req = session.request({ ':authority': '/run/ucri/ucri.sock', 'x-big': 'q'.repeat(20000) });
          req.end();
          if (fix) {
            const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
            assert.equal(headers[':status'], 200);
            req.resume();
            await once(req, 'end');
            assert.deepEqual(seen, ['localhost 20000']);
          } else {
            const [err] = (await once(req, 'error')) as [Error];
            assert.match(err.message, /NGHTTP2_PROTOCOL_ERROR/);
            assert.deepEqual(seen, []);
          }
        } finally {
          session.destroy();
          serverSide.destroy();
          server.close();
        }
      },
    );
  }
});
