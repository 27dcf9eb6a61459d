/**
 * SPDY/3.1 frames (draft-mbelshe-httpbis-spdy-00 with the 3.1 flow-control amendment), as kubelet's and
 * crictl's Go client (moby/spdystream) sends them. Every frame has an 8-byte head:
 *
 *   control: 1 | version(15) | type(16) | flags(8) | length(24)     data: 0 | stream id(31) | flags(8) | length(24)
 *
 * Header blocks are `count(32) { nameLen(32) name valueLen(32) value }*`, zlib-compressed with the SPDY/3
 * dictionary over one zlib stream per direction for the whole connection (see header-codec.ts).
 */

export const SPDY_VERSION = 3;
export const FLAG_FIN = 0x01;

export const FrameType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;

/** RST_STREAM status codes used here. */
export const RST_PROTOCOL_ERROR = 1;
export const RST_REFUSED_STREAM = 3;
export const RST_CANCEL = 5;
export const RST_INTERNAL_ERROR = 6;

export type Frame =
  | { kind: 'data'; streamId: number; flags: number; data: Buffer }
  | { kind: 'control'; type: number; version: number; flags: number; payload: Buffer };

const HEAD = 8;
/** Largest payload a frame can carry (24-bit length). */
export const MAX_PAYLOAD = 0xffffff;

/**
 * Splits a byte stream into frames. `push` returns every frame completed by `chunk`; partial frames are
 * kept for the next call.
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    let pos = 0;
    while (this.buf.length - pos >= HEAD) {
      const len = this.buf.readUIntBE(pos + 5, 3);
      if (this.buf.length - pos < HEAD + len) break;
      const flags = this.buf[pos + 4]!;
      const payload = this.buf.subarray(pos + HEAD, pos + HEAD + len);
      if (this.buf[pos]! & 0x80) {
        const version = this.buf.readUInt16BE(pos) & 0x7fff;
        out.push({ kind: 'control', version, type: this.buf.readUInt16BE(pos + 2), flags, payload });
      } else {
        out.push({ kind: 'data', streamId: this.buf.readUInt32BE(pos) & 0x7fffffff, flags, data: payload });
      }
      pos += HEAD + len;
    }
    this.buf = pos === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
    return out;
  }
}

function head(first: number, second: number, flags: number, length: number): Buffer {
  const h = Buffer.alloc(HEAD);
  h.writeUInt16BE(first, 0);
  h.writeUInt16BE(second, 2);
  h[4] = flags;
  h.writeUIntBE(length, 5, 3);
  return h;
}

/** A control frame with `payload`. */
export function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  return Buffer.concat([head(0x8000 | SPDY_VERSION, type, flags, payload.length), payload]);
}

/** A DATA frame; `data` must fit one frame (MAX_PAYLOAD). */
export function dataFrame(streamId: number, flags: number, data: Buffer): Buffer {
  const h = head((streamId >>> 16) & 0x7fff, streamId & 0xffff, flags, data.length);
  return data.length === 0 ? h : Buffer.concat([h, data]);
}

function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  for (const [i, v] of values.entries()) b.writeUInt32BE(v >>> 0, 4 * i);
  return b;
}

export function synReplyFrame(streamId: number, flags: number, compressedHeaders: Buffer): Buffer {
  return controlFrame(FrameType.SynReply, flags, Buffer.concat([u32(streamId & 0x7fffffff), compressedHeaders]));
}

export function rstStreamFrame(streamId: number, status: number): Buffer {
  return controlFrame(FrameType.RstStream, 0, u32(streamId & 0x7fffffff, status));
}

export function goAwayFrame(lastStreamId: number, status = 0): Buffer {
  return controlFrame(FrameType.GoAway, 0, u32(lastStreamId & 0x7fffffff, status));
}

/** The stream id a control frame's payload starts with (SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE). */
export function streamIdOf(payload: Buffer): number {
  return payload.length >= 4 ? payload.readUInt32BE(0) & 0x7fffffff : 0;
}

/** Serialises headers (names lowercased; several values of one name joined with NUL). */
export function encodeHeaderBlock(headers: ReadonlyMap<string, string>): Buffer {
  const parts: Buffer[] = [u32(headers.size)];
  for (const [name, value] of headers) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(value, 'utf8');
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

/** Parses an uncompressed header block; throws on a malformed one. Names are lowercased. */
export function decodeHeaderBlock(block: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  if (block.length < 4) throw new Error('header block too short');
  const count = block.readUInt32BE(0);
  let pos = 4;
  const take = (): string => {
    if (pos + 4 > block.length) throw new Error('header block truncated');
    const len = block.readUInt32BE(pos);
    pos += 4;
    if (pos + len > block.length) throw new Error('header block truncated');
    const s = block.toString('utf8', pos, pos + len);
    pos += len;
    return s;
  };
  for (let i = 0; i < count; i++) {
    const name = take().toLowerCase();
    out.set(name, take());
  }
  return out;
}
