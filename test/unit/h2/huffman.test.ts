import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from '../../../pkg/h2/huffman.js';

const decode = (hex: string): Buffer => {
  const b = Buffer.from(hex, 'hex');
  return huffmanDecode(b, 0, b.length);
};

describe('huffman', () => {
  // RFC 7541 Appendix C.4 / C.6 string encodings.
  const vectors: Array<[string, string]> = [
    ['www.example.com', 'f1e3c2e5f23a6ba0ab90f4ff'],
    ['no-cache', 'a8eb10649cbf'],
    ['custom-key', '25a849e95ba97d7f'],
    ['custom-value', '25a849e95bb8e8b4bf'],
    ['302', '6402'],
    ['private', 'aec3771a4b'],
    ['https://www.example.com', '9d29ad171863c78f0b97c8e9ae82ae43d3'],
  ];

  it('encodes and decodes the RFC 7541 examples', () => {
    for (const [text, hex] of vectors) {
      assert.equal(huffmanEncode(Buffer.from(text)).toString('hex'), hex, text);
      assert.equal(decode(hex).toString(), text, hex);
      assert.equal(huffmanEncodedLength(Buffer.from(text)), hex.length / 2);
    }
  });

  it('round-trips every byte value, in every alignment', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    for (let shift = 0; shift < 8; shift++) {
      const src = Buffer.concat([Buffer.from('a'.repeat(shift)), all, all.reverse()]);
      assert.deepEqual(decode(huffmanEncode(src).toString('hex')), src);
    }
    assert.deepEqual(decode(''), Buffer.alloc(0));
  });

  it('rejects bad padding and EOS', () => {
    // Eight one-bits: padding longer than 7 bits.
    assert.throws(() => decode('ff'), /padding/);
    // 'a' (00011) padded with zeros instead of ones.
    assert.throws(() => decode('18'), /padding/);
    // EOS (30 one-bits) inside the string.
    assert.throws(() => decode('fffffffc'), /eos/);
    // A code cut short: the first 5 bits of a 6-bit code, then nothing.
    assert.throws(() => decode('ac'), /padding/);
  });
});
