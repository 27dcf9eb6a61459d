/**
 * HTTP/2 frame facts (RFC 9113 §4 and §6) shared by the authority fix stream and the connection sniffer:
 * the client preface, frame types and flags, and the split of a HEADERS payload into its header block
 * fragment and priority fields.
 */
import { InvalidArgumentError } from '../util/index.js';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER = 9;
/** Largest frame payload every HTTP/2 peer must accept. */
export const MAX_FRAME_PAYLOAD = 16384;

export const HEADERS = 0x1;
export const SETTINGS = 0x4;
export const PUSH_PROMISE = 0x5;
export const CONTINUATION = 0x9;

export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;
export const PADDED = 0x8;
export const PRIORITY = 0x20;

/** A HEADERS payload without its padding: the header block fragment and the 5 priority bytes, if any. */
export interface HeadersPayload {
  fragment: Buffer;
  priority: Buffer | null;
}

/**
 * Splits the payload of a HEADERS frame with `flags`. The fragment and priority are views of `payload`.
 * InvalidArgumentError when the pad length or the priority fields do not fit.
 */
export function splitHeadersPayload(payload: Buffer, flags: number): HeadersPayload {
  let start = 0;
  let end = payload.length;
  if (flags & PADDED) {
    if (payload.length < 1) throw new InvalidArgumentError('http/2: padded HEADERS without pad length');
    end -= payload[0]!;
    start = 1;
  }
  let priority: Buffer | null = null;
  if (flags & PRIORITY) {
    if (end - start < 5) throw new InvalidArgumentError('http/2: HEADERS too short for priority');
    priority = payload.subarray(start, start + 5);
    start += 5;
  }
  if (end < start) throw new InvalidArgumentError('http/2: HEADERS padding longer than payload');
  return { fragment: payload.subarray(start, end), priority };
}
