/**
 * HPACK (RFC 7541) for one direction of one HTTP/2 connection: a full decoder (static and dynamic table,
 * Huffman strings, dynamic table size updates) and an encoder that never adds to the peer's dynamic table.
 *
 * Names and values are raw octets (Buffers): HTTP/2 fields are not necessarily UTF-8, and a proxy that
 * rewrites one field must hand every other one on byte for byte.
 */
import { InvalidArgumentError } from '../util/index.js';
import { huffmanDecode, huffmanEncodedLength, huffmanEncodeInto } from './huffman.js';

/** One decoded header field. */
export interface HeaderField {
  readonly name: Buffer;
  readonly value: Buffer;
  /** Index of a static table entry with this name, 0 if none: lets the encoder name it in one byte. */
  readonly nameIndex: number;
  /** Index of a static table entry with this exact name and value, 0 if none. */
  readonly index: number;
  /** Sent as "never indexed" (RFC 7541 section 6.2.3); a proxy must keep that representation. */
  readonly sensitive: boolean;
}

// biome-ignore format: the RFC 7541 Appendix A table, one entry per line is easiest to check
const STATIC: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

const STATIC_NAME_INDEX = new Map<string, number>();
const STATIC_EXACT_INDEX = new Map<string, number>();
/** Static entries as fields (index i+1 at position i), shared by every decoder. */
const STATIC_FIELDS: HeaderField[] = STATIC.map(([name, value], i) => {
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i + 1);
  STATIC_EXACT_INDEX.set(`${name}\0${value}`, i + 1);
  return {
    name: Buffer.from(name, 'latin1'),
    value: Buffer.from(value, 'latin1'),
    nameIndex: STATIC_NAME_INDEX.get(name)!,
    index: i + 1,
    sensitive: false,
  };
});

/** Static name index of a name, 0 if the static table does not have it. */
export function staticNameIndex(name: Buffer): number {
  // Static names are 3..27 bytes; skip the string conversion for anything else.
  if (name.length < 3 || name.length > 27) return 0;
  return STATIC_NAME_INDEX.get(name.toString('latin1')) ?? 0;
}

/** Builds a field, filling in its static indexes. */
export function field(name: Buffer | string, value: Buffer | string, sensitive = false): HeaderField {
  const n = typeof name === 'string' ? Buffer.from(name, 'latin1') : name;
  const v = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const nameIndex = staticNameIndex(n);
  return { name: n, value: v, nameIndex, index: exactIndex(nameIndex, n, v), sensitive };
}

function exactIndex(nameIndex: number, name: Buffer, value: Buffer): number {
  // Only the first 16 entries carry a value ('gzip, deflate' is the longest at 13 bytes).
  if (nameIndex === 0 || nameIndex > 16 || value.length > 13) return 0;
  return STATIC_EXACT_INDEX.get(`${name.toString('latin1')}\0${value.toString('latin1')}`) ?? 0;
}

/** Per-entry overhead counted by the table size (RFC 7541 section 4.1). */
const ENTRY_OVERHEAD = 32;

/** Limits of a decoder. */
export interface DecoderLimits {
  /** Largest dynamic table size the peer may switch to with a size update (its SETTINGS_HEADER_TABLE_SIZE). */
  maxTableSize: number;
  /** Largest decoded header list (sum of name + value + 32 per field) accepted in one block. */
  maxHeaderListSize: number;
}

/** HPACK decoder state of one connection direction. Not reusable across connections. */
export class HpackDecoder {
  /** Dynamic table as a ring buffer; `head` is the newest entry (HPACK index 62). */
  #ring: Array<HeaderField | undefined> = new Array(32);
  #head = 0;
  #count = 0;
  #size = 0;
  #tableLimit = 4096;
  readonly #limits: DecoderLimits;

  constructor(limits: Partial<DecoderLimits> = {}) {
    this.#limits = { maxTableSize: 4096, maxHeaderListSize: 1 << 20, ...limits };
    this.#tableLimit = Math.min(4096, this.#limits.maxTableSize);
  }

  /** Current dynamic table size in HPACK units (for tests). */
  get tableSize(): number {
    return this.#size;
  }

  /** Number of dynamic table entries (for tests). */
  get tableLength(): number {
    return this.#count;
  }

  /**
   * Decodes one complete header block. Throws InvalidArgumentError on any malformed input; after that the
   * decoder is out of step with the peer and the connection must be dropped.
   */
  decode(block: Uint8Array): HeaderField[] {
    const fields: HeaderField[] = [];
    let listSize = 0;
    let pos = 0;
    const end = block.length;
    const readInt = (prefixBits: number): number => {
      const mask = (1 << prefixBits) - 1;
      let value = block[pos++]! & mask;
      if (value < mask) return value;
      let shift = 0;
      for (;;) {
        if (pos >= end) throw new InvalidArgumentError('hpack: truncated integer');
        const b = block[pos++]!;
        value += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if ((b & 0x80) === 0) break;
        if (shift > 28) throw new InvalidArgumentError('hpack: integer too large');
      }
      if (value > 0xffffffff) throw new InvalidArgumentError('hpack: integer too large');
      return value;
    };
    // `keep`: the string goes into the dynamic table, so copy it out of the (network) block buffer.
    const readString = (keep: boolean): Buffer => {
      if (pos >= end) throw new InvalidArgumentError('hpack: truncated string');
      const huffman = (block[pos]! & 0x80) !== 0;
      const len = readInt(7);
      if (len > end - pos) throw new InvalidArgumentError('hpack: string longer than block');
      const start = pos;
      pos += len;
      if (huffman) return huffmanDecode(block, start, pos);
      const raw = Buffer.from(block.buffer, block.byteOffset + start, len);
      return keep ? Buffer.from(raw) : raw;
    };

    while (pos < end) {
      const b = block[pos]!;
      let f: HeaderField;
      if (b & 0x80) {
        // Indexed field.
        f = this.#lookup(readInt(7));
      } else if (b & 0x40) {
        // Literal with incremental indexing.
        const idx = readInt(6);
        if (idx === 0) {
          f = field(readString(true), readString(true));
        } else {
          const ref = this.#lookup(idx);
          const value = readString(true);
          const index = exactIndex(ref.nameIndex, ref.name, value);
          f = { name: ref.name, value, nameIndex: ref.nameIndex, index, sensitive: false };
        }
        this.#insert(f);
      } else if (b & 0x20) {
        // Dynamic table size update: only before the first field (RFC 7541 section 4.2).
        if (fields.length > 0) throw new InvalidArgumentError('hpack: table size update after a field');
        const size = readInt(5);
        if (size > this.#limits.maxTableSize) {
          throw new InvalidArgumentError(`hpack: table size update ${size} above limit ${this.#limits.maxTableSize}`);
        }
        this.#tableLimit = size;
        this.#evict(0);
        continue;
      } else {
        // Literal without indexing (0000) or never indexed (0001).
        const sensitive = (b & 0x10) !== 0;
        const idx = readInt(4);
        if (idx !== 0) {
          const ref = this.#lookup(idx);
          const value = readString(false);
          f = {
            name: ref.name,
            value,
            nameIndex: ref.nameIndex,
            index: exactIndex(ref.nameIndex, ref.name, value),
            sensitive,
          };
        } else {
          f = field(readString(false), readString(false), sensitive);
        }
      }
      listSize += f.name.length + f.value.length + ENTRY_OVERHEAD;
      if (listSize > this.#limits.maxHeaderListSize) {
        throw new InvalidArgumentError(`hpack: header list larger than ${this.#limits.maxHeaderListSize} bytes`);
      }
      fields.push(f);
    }
    return fields;
  }

  #lookup(index: number): HeaderField {
    if (index === 0) throw new InvalidArgumentError('hpack: index 0');
    if (index <= STATIC_FIELDS.length) return STATIC_FIELDS[index - 1]!;
    const d = index - STATIC_FIELDS.length - 1;
    if (d >= this.#count) throw new InvalidArgumentError(`hpack: index ${index} beyond the dynamic table`);
    return this.#ring[(this.#head - d + this.#ring.length) % this.#ring.length]!;
  }

  #insert(f: HeaderField): void {
    const size = f.name.length + f.value.length + ENTRY_OVERHEAD;
    // An entry larger than the table empties it and is not added (RFC 7541 section 4.4).
    this.#evict(Math.min(size, this.#tableLimit + 1));
    if (size > this.#tableLimit) return;
    if (this.#count === this.#ring.length) this.#grow();
    this.#head = (this.#head + 1) % this.#ring.length;
    // A stored entry is never sensitive: never-indexed literals are not inserted.
    this.#ring[this.#head] = f.sensitive ? { ...f, sensitive: false } : f;
    this.#count++;
    this.#size += size;
  }

  /** Evicts oldest entries until `room` more units fit. */
  #evict(room: number): void {
    while (this.#count > 0 && this.#size + room > this.#tableLimit) {
      const oldest = (this.#head - this.#count + 1 + this.#ring.length) % this.#ring.length;
      const e = this.#ring[oldest]!;
      this.#size -= e.name.length + e.value.length + ENTRY_OVERHEAD;
      this.#ring[oldest] = undefined;
      this.#count--;
    }
  }

  #grow(): void {
    const bigger: Array<HeaderField | undefined> = new Array(this.#ring.length * 2);
    for (let d = 0; d < this.#count; d++) {
      bigger[this.#count - 1 - d] = this.#ring[(this.#head - d + this.#ring.length) % this.#ring.length];
    }
    this.#ring = bigger;
    this.#head = this.#count - 1;
  }
}

/** Options of an encoder. */
export interface EncoderOptions {
  /** Huffman-code strings where that is shorter (smaller output, more CPU). Default false. */
  huffman: boolean;
  /**
   * Start the first block with a dynamic table size update to 0. Default true. Without it the peer's table
   * keeps its default size but stays empty all the same (this encoder never inserts), so blocks are
   * independent of each other and can be encoded once and reused on any connection.
   */
  sizeUpdate: boolean;
}

function intLength(value: number, prefixBits: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) return 1;
  let n = 2;
  for (let v = value - max; v >= 128; v = Math.floor(v / 128)) n++;
  return n;
}

function writeInt(dst: Buffer, pos: number, value: number, prefixBits: number, firstByte: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    dst[pos++] = firstByte | value;
    return pos;
  }
  dst[pos++] = firstByte | max;
  let v = value - max;
  while (v >= 128) {
    dst[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  dst[pos++] = v;
  return pos;
}

/**
 * HPACK encoder that never inserts into the peer's dynamic table: fields go out as static-indexed or as
 * literals without indexing (never-indexed ones keep that form). Its first block starts with a dynamic table
 * size update to 0, so the peer's decoder holds no state for this connection and any later change of the
 * peer's SETTINGS_HEADER_TABLE_SIZE needs no update from us.
 */
export class HpackEncoder {
  #first = true;
  readonly #huffman: boolean;

  constructor(options: Partial<EncoderOptions> = {}) {
    this.#huffman = options.huffman ?? false;
    this.#first = options.sizeUpdate ?? true;
  }

  /**
   * Encodes `fields` as one header block into a new buffer whose first `headroom` bytes are left for the
   * caller (a frame header), so a block that fits in one frame needs no further copy.
   */
  encode(fields: readonly HeaderField[], headroom = 0): Buffer {
    let len = this.#first ? 1 : 0;
    for (const f of fields) {
      if (f.index !== 0 && !f.sensitive) {
        len += intLength(f.index, 7);
        continue;
      }
      len += f.nameIndex !== 0 ? intLength(f.nameIndex, 4) : 1 + this.#stringLength(f.name);
      len += this.#stringLength(f.value);
    }
    const out = Buffer.allocUnsafe(headroom + len);
    let pos = headroom;
    if (this.#first) {
      out[pos++] = 0x20; // dynamic table size update to 0
      this.#first = false;
    }
    for (const f of fields) {
      if (f.index !== 0 && !f.sensitive) {
        pos = writeInt(out, pos, f.index, 7, 0x80);
        continue;
      }
      const kind = f.sensitive ? 0x10 : 0x00;
      if (f.nameIndex !== 0) {
        pos = writeInt(out, pos, f.nameIndex, 4, kind);
      } else {
        out[pos++] = kind;
        pos = this.#writeString(out, pos, f.name);
      }
      pos = this.#writeString(out, pos, f.value);
    }
    return out;
  }

  #stringLength(s: Buffer): number {
    const n = this.#huffman ? Math.min(huffmanEncodedLength(s), s.length) : s.length;
    return intLength(n, 7) + n;
  }

  #writeString(dst: Buffer, pos: number, s: Buffer): number {
    if (this.#huffman) {
      const h = huffmanEncodedLength(s);
      if (h < s.length) return huffmanEncodeInto(s, dst, writeInt(dst, pos, h, 7, 0x80));
    }
    pos = writeInt(dst, pos, s.length, 7, 0);
    return pos + s.copy(dst, pos);
  }
}
