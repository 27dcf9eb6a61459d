import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { field, type HeaderField, HpackDecoder, HpackEncoder } from '../../../pkg/h2/hpack.js';

const pairs = (fields: HeaderField[]): Array<[string, string]> =>
  fields.map((f) => [f.name.toString('latin1'), f.value.toString('latin1')]);
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const REQUESTS: Array<Array<[string, string]>> = [
  [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
  ],
  [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
    ['cache-control', 'no-cache'],
  ],
  [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', '/index.html'],
    [':authority', 'www.example.com'],
    ['custom-key', 'custom-value'],
  ],
];

describe('HpackDecoder', () => {
  it('decodes the RFC 7541 C.3 requests (literals, dynamic table)', () => {
    const d = new HpackDecoder();
    const blocks = [
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    ];
    const sizes = [57, 110, 164];
    blocks.forEach((b, i) => {
      assert.deepEqual(pairs(d.decode(hex(b))), REQUESTS[i]);
      assert.equal(d.tableSize, sizes[i]);
    });
  });

  it('decodes the RFC 7541 C.4 requests (Huffman)', () => {
    const d = new HpackDecoder();
    const blocks = [
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ];
    blocks.forEach((b, i) => {
      assert.deepEqual(pairs(d.decode(hex(b))), REQUESTS[i]);
    });
    assert.equal(d.tableLength, 3);
  });

  it('evicts the oldest entries and honours size updates', () => {
    const d = new HpackDecoder();
    // Size update to 100, then two literals with incremental indexing of 32+1+40 = 73 units each.
    const lit = (n: string, v: string): Buffer =>
      Buffer.concat([Buffer.from([0x40, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v)]);
    const a = 'a'.repeat(40);
    const b = 'b'.repeat(40);
    assert.deepEqual(pairs(d.decode(Buffer.concat([Buffer.from([0x3f, 0x45]), lit('x', a)]))), [['x', a]]);
    assert.equal(d.tableLength, 1);
    // The second insert evicts the first; index 62 is now x: bbbb...
    assert.deepEqual(pairs(d.decode(Buffer.concat([lit('y', b), Buffer.from([0xbe])]))), [
      ['y', b],
      ['y', b],
    ]);
    assert.equal(d.tableLength, 1);
    assert.equal(d.tableSize, 73);
    assert.throws(() => d.decode(Buffer.from([0xbf])), /beyond the dynamic table/);
    // An entry larger than the table empties it.
    const d2 = new HpackDecoder();
    d2.decode(lit('x', a));
    d2.decode(Buffer.concat([Buffer.from([0x3f, 0x45]), lit('z', 'z'.repeat(90))]));
    assert.equal(d2.tableLength, 0);
    // A size update to 0 empties the table; then back up, still within the limit.
    const d3 = new HpackDecoder();
    d3.decode(lit('x', a));
    d3.decode(Buffer.from([0x20, 0x3f, 0xe1, 0x1f]));
    assert.equal(d3.tableLength, 0);
  });

  it('rejects malformed blocks', () => {
    const bad: Array<[string, RegExp]> = [
      ['80', /index 0/],
      ['be', /beyond the dynamic table/],
      ['ff ff ff ff ff 0f', /integer too large/],
      ['ff 80', /truncated integer/],
      ['04 05 61', /longer than block/],
      ['00', /truncated string/],
      ['82 20', /size update after a field/],
      ['3f e1 ff 03', /above limit/],
      ['04 81 ff', /padding/],
    ];
    for (const [block, re] of bad) assert.throws(() => new HpackDecoder().decode(hex(block)), re, block);
  });

  it('limits the decoded header list size', () => {
    const d = new HpackDecoder({ maxHeaderListSize: 200 });
    const value = 'v'.repeat(100);
    const block = Buffer.concat([Buffer.from([0x40, 1, 0x78, 100]), Buffer.from(value)]);
    d.decode(block);
    // Two references to the 133-unit entry exceed 200.
    assert.throws(() => d.decode(Buffer.from([0xbe, 0xbe])), /header list larger/);
  });
});

describe('HpackEncoder', () => {
  const fields = [
    field(':method', 'POST'),
    field(':scheme', 'http'),
    field(':path', '/runtime.v1.RuntimeService/Version'),
    field(':authority', 'localhost'),
    field('content-type', 'application/grpc'),
    field('te', 'trailers'),
    field('x-secret', 'hunter2', true),
    field('authorization', 'Bearer abc', true),
    field('x-long', 'L'.repeat(300)),
    field('x-bin-bin', Buffer.from([0, 1, 2, 255])),
  ];

  for (const huffman of [false, true]) {
    it(`round-trips through the decoder (huffman ${huffman}) without touching the dynamic table`, () => {
      const enc = new HpackEncoder({ huffman });
      const dec = new HpackDecoder();
      for (let i = 0; i < 3; i++) {
        const out = dec.decode(enc.encode(fields));
        assert.deepEqual(pairs(out), pairs(fields));
        assert.deepEqual(
          out.map((f) => f.sensitive),
          fields.map((f) => f.sensitive),
        );
        assert.equal(dec.tableLength, 0);
      }
    });
  }

  it('uses static indexes, starts with a size update to 0 and leaves headroom', () => {
    const enc = new HpackEncoder();
    const first = enc.encode([field(':method', 'POST'), field(':path', '/x')], 9);
    // size update 0 | indexed :method POST | literal, not indexed, name :path (4) | "/x"
    assert.equal(first.length, 9 + 6);
    assert.equal(first.subarray(9).toString('hex'), '20' + '83' + '04' + '022f78');
    const second = enc.encode([field(':method', 'POST')]);
    assert.equal(second.toString('hex'), '83');
  });
});
