/**
 * The HPACK Huffman code (RFC 7541 Appendix B). The code is canonical, so the table below holds only the code
 * length of each symbol (0..255 and EOS = 256); the codes themselves are derived at load time by the usual
 * canonical assignment (sort by length then symbol, count upwards).
 *
 * Decoding walks a 4-bit-at-a-time state machine built from the code tree, so one table lookup consumes a
 * nibble. Because the shortest code is 5 bits, one nibble completes at most one symbol.
 */
import { InvalidArgumentError } from '../util/index.js';

// biome-ignore format: one row per 16 symbols keeps the table readable
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;

/** Code of each symbol, right-aligned in the low `CODE_LENGTHS[s]` bits. */
const CODES = new Uint32Array(257);
{
  const symbols = CODE_LENGTHS.map((_, s) => s).sort((a, b) => CODE_LENGTHS[a]! - CODE_LENGTHS[b]! || a - b);
  let code = 0;
  let prevLen = CODE_LENGTHS[symbols[0]!]!;
  for (const s of symbols) {
    const len = CODE_LENGTHS[s]!;
    code <<= len - prevLen;
    prevLen = len;
    CODES[s] = code;
    code++;
  }
}

/*
 * Decoder tables. Internal tree nodes are the states (node 0 is the root). For state s and nibble n,
 * NEXT[s*16+n] is the state after consuming the nibble, EMIT[..] is the symbol completed on the way plus one
 * (0: none; EOS inside a string is an error, marked FAIL). ACCEPT[s] says a string may end in state s: the bits
 * since the last symbol are a prefix of EOS (all ones) and fewer than 8 (RFC 7541 section 5.2).
 */
const FAIL = 0xffff;
const NEXT = new Uint16Array(256 * 16);
const EMIT = new Uint16Array(256 * 16);
const ACCEPT = new Uint8Array(256);
{
  // children[2*node + bit]: >= 0 is an internal node, < 0 is ~symbol (a leaf).
  const children: number[] = [0, 0];
  const depth: number[] = [0];
  const ones: boolean[] = [true];
  let nodes = 1;
  for (let s = 0; s <= EOS; s++) {
    const len = CODE_LENGTHS[s]!;
    const code = CODES[s]!;
    let node = 0;
    for (let i = len - 1; i > 0; i--) {
      const bit = (code >>> i) & 1;
      let child = children[2 * node + bit]!;
      if (child === 0) {
        child = nodes++;
        children[2 * node + bit] = child;
        children.push(0, 0);
        depth[child] = depth[node]! + 1;
        ones[child] = ones[node]! && bit === 1;
      }
      node = child;
    }
    children[2 * node + (code & 1)] = ~s;
  }
  for (let s = 0; s < nodes; s++) {
    ACCEPT[s] = s === 0 || (ones[s]! && depth[s]! < 8) ? 1 : 0;
    for (let n = 0; n < 16; n++) {
      let node = s;
      let emit = 0;
      for (let i = 3; i >= 0; i--) {
        const child = children[2 * node + ((n >>> i) & 1)]!;
        if (child < 0) {
          emit = ~child === EOS ? FAIL : ~child + 1;
          node = 0;
          if (emit === FAIL) break;
        } else {
          node = child;
        }
      }
      NEXT[s * 16 + n] = node;
      EMIT[s * 16 + n] = emit;
    }
  }
}

/** Decodes the Huffman string `src[start, end)`; throws InvalidArgumentError on EOS, bad padding or a bad code. */
export function huffmanDecode(src: Uint8Array, start: number, end: number): Buffer {
  // Every symbol is at least 5 bits, so 8 bits per input byte decode to at most 8/5 output bytes.
  const out = Buffer.allocUnsafe(Math.ceil(((end - start) * 8) / 5));
  let o = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    let k = state * 16 + (byte >>> 4);
    let emit = EMIT[k]!;
    if (emit !== 0) {
      if (emit === FAIL) throw new InvalidArgumentError('hpack: huffman string contains eos');
      out[o++] = emit - 1;
    }
    state = NEXT[k]!;
    k = state * 16 + (byte & 15);
    emit = EMIT[k]!;
    if (emit !== 0) {
      if (emit === FAIL) throw new InvalidArgumentError('hpack: huffman string contains eos');
      out[o++] = emit - 1;
    }
    state = NEXT[k]!;
  }
  if (ACCEPT[state] !== 1) throw new InvalidArgumentError('hpack: invalid huffman padding');
  return out.subarray(0, o);
}

/** Length in bytes of the Huffman encoding of `src`. */
export function huffmanEncodedLength(src: Uint8Array): number {
  let bits = 0;
  for (let i = 0; i < src.length; i++) bits += CODE_LENGTHS[src[i]!]!;
  return (bits + 7) >>> 3;
}

/** Huffman-encodes `src` into `dst` at `offset` (padding with the EOS prefix); returns the offset after it. */
export function huffmanEncodeInto(src: Uint8Array, dst: Uint8Array, offset: number): number {
  let acc = 0; // pending bits, right-aligned; never more than 7 + 30 bits, so use a float-safe split
  let nbits = 0;
  let o = offset;
  for (let i = 0; i < src.length; i++) {
    const sym = src[i]!;
    const len = CODE_LENGTHS[sym]!;
    // Keep `acc` below 2^31: flush whole bytes before adding a long code.
    acc = acc * 2 ** len + CODES[sym]!;
    nbits += len;
    while (nbits >= 8) {
      nbits -= 8;
      const b = Math.floor(acc / 2 ** nbits);
      dst[o++] = b & 0xff;
      acc -= b * 2 ** nbits;
    }
  }
  if (nbits > 0) dst[o++] = ((acc << (8 - nbits)) | (0xff >>> nbits)) & 0xff;
  return o;
}

/** Huffman-encodes `src` into a new buffer. */
export function huffmanEncode(src: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(huffmanEncodedLength(src));
  huffmanEncodeInto(src, out, 0);
  return out;
}
