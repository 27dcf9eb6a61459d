/**
 * HTTP/2 frame facts (RFC 9113 §4, §6, §7): the client preface, frame types, flags, settings and error codes,
 * and frame headers.
 */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER = 9;
/** Largest frame payload every HTTP/2 peer must accept. */
export const MAX_FRAME_PAYLOAD = 16384;

export const DATA = 0x0;
export const HEADERS = 0x1;
export const PRIORITY_FRAME = 0x2;
export const RST_STREAM = 0x3;
export const SETTINGS = 0x4;
export const PUSH_PROMISE = 0x5;
export const PING = 0x6;
export const GOAWAY = 0x7;
export const WINDOW_UPDATE = 0x8;
export const CONTINUATION = 0x9;

/** SETTINGS identifiers (RFC 9113 §6.5.2). */
export const SETTINGS_HEADER_TABLE_SIZE = 0x1;
export const SETTINGS_ENABLE_PUSH = 0x2;
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
export const SETTINGS_MAX_FRAME_SIZE = 0x5;
export const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;

/** Error codes (RFC 9113 §7). */
export const NO_ERROR = 0x0;
export const PROTOCOL_ERROR = 0x1;
export const INTERNAL_ERROR = 0x2;
export const FLOW_CONTROL_ERROR = 0x3;
export const STREAM_CLOSED = 0x5;
export const FRAME_SIZE_ERROR = 0x6;
export const REFUSED_STREAM = 0x7;
export const CANCEL = 0x8;
export const COMPRESSION_ERROR = 0x9;
export const ENHANCE_YOUR_CALM = 0xb;

/** Initial flow-control window of a connection and of every stream (RFC 9113 §6.9.2). */
export const DEFAULT_WINDOW = 65535;
/** Largest flow-control window (2^31-1). */
export const MAX_WINDOW = 0x7fffffff;
/** Largest SETTINGS_MAX_FRAME_SIZE (2^24-1). */
export const MAX_MAX_FRAME_SIZE = 0xffffff;

/** Writes a frame header at `at` of `dst`; returns the offset after it. */
export function writeFrameHeader(
  dst: Buffer,
  at: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): number {
  dst[at] = length >>> 16;
  dst[at + 1] = (length >>> 8) & 0xff;
  dst[at + 2] = length & 0xff;
  dst[at + 3] = type;
  dst[at + 4] = flags;
  dst.writeUInt32BE(streamId, at + 5);
  return at + FRAME_HEADER;
}

const EMPTY = new Uint8Array(0);

/** A whole frame with `payload` (copied). */
export function encodeFrame(type: number, flags: number, streamId: number, payload: Uint8Array = EMPTY): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  writeFrameHeader(out, 0, payload.length, type, flags, streamId);
  out.set(payload, FRAME_HEADER);
  return out;
}

export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;
export const PADDED = 0x8;
export const PRIORITY = 0x20;
