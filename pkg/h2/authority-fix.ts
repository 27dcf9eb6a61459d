/**
 * The unix-socket `:authority` fix (design/CRI.md, "The unix socket :authority trap").
 *
 * grpc-go before the Kubernetes 1.31 era (crictl 1.26, old kubelets) dials a unix socket with the socket path
 * as gRPC target and sends that path as the HTTP/2 `:authority`. nghttp2, under Node's HTTP/2 server, rejects
 * an authority containing `/` with RST_STREAM before JavaScript sees the stream. So ucri accepts connections
 * itself and hands grpc-js a stream in which every client→server header block has been HPACK-decoded,
 * an invalid `:authority` (or `host`) replaced, and re-encoded. All other bytes pass through untouched, as
 * slices of the socket's own chunks.
 *
 * Every header block is re-encoded, not just the ones that need a change: the client's encoder and our
 * decoder share a dynamic table, and the server's decoder must stay in step with whatever we send. Our
 * encoder never indexes, so the server's table stays empty for the whole connection.
 *
 * Frame handling (RFC 9113): the 24-byte preface passes through; HEADERS lose their padding and keep their
 * priority fields; a block spread over HEADERS + CONTINUATION is collected whole before decoding; output
 * frames carry at most 16384 payload bytes (the minimum SETTINGS_MAX_FRAME_SIZE), the block being split into
 * HEADERS + CONTINUATION when needed. Anything that leaves the decoder out of step (malformed HPACK, broken
 * CONTINUATION sequence, bad padding, a client PUSH_PROMISE) destroys the connection.
 */
import { Duplex } from 'node:stream';
import { InvalidArgumentError, logger } from '../util/index.js';
import {
  ACK,
  CONTINUATION,
  END_HEADERS,
  END_STREAM,
  FRAME_HEADER,
  HEADERS,
  MAX_FRAME_PAYLOAD,
  PREFACE,
  PRIORITY,
  PUSH_PROMISE,
  SETTINGS,
  splitHeadersPayload,
} from './frame.js';
import { AUTHORITY_INDEX, field, HOST_INDEX, type HeaderField, HpackDecoder, HpackEncoder } from './hpack.js';

const log = logger('h2');

// RFC 3986 reg-name / IP-literal / port characters, the set nghttp2_check_authority accepts.
const AUTHORITY_CHARS = new Uint8Array(256);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:@[]") {
  AUTHORITY_CHARS[c.charCodeAt(0)] = 1;
}

/** True when nghttp2 accepts `value` as `:authority` / `host`. */
export function isValidAuthority(value: Uint8Array): boolean {
  for (let i = 0; i < value.length; i++) if (AUTHORITY_CHARS[value[i]!] !== 1) return false;
  return true;
}

/** Tunables of {@link AuthorityFixStream}. */
export interface FixAuthorityOptions {
  /** Authority put in place of an invalid one. Default `localhost`. */
  replacement: string;
  /** Largest dynamic table size the client may switch to. Default 65536 (above any server setting we use). */
  maxTableSize: number;
  /** Largest encoded header block (all fragments) and decoded header list accepted. Default 1 MiB. */
  maxHeaderBlockSize: number;
  /**
   * Remove the client's first SETTINGS ACK: it acknowledges a SETTINGS frame sent before the server's
   * HTTP/2 session existed (sniff.ts), which that session must not see. Default false.
   */
  dropSettingsAck: boolean;
}

/**
 * A duplex over one accepted client socket: reading yields the client's bytes with header blocks rewritten,
 * writing goes straight to the socket. End, close, errors and backpressure propagate both ways.
 */
export class AuthorityFixStream extends Duplex {
  readonly #socket: Duplex;
  readonly #decoder: HpackDecoder;
  readonly #encoder = new HpackEncoder();
  readonly #replacement: HeaderField;
  readonly #replacementHost: HeaderField;
  readonly #maxBlock: number;
  #rewrites = 0;
  #dropAck: boolean;

  // Parser state.
  #prefaceLeft = PREFACE.length;
  #raw = false; // not HTTP/2: pass everything on and let nghttp2 answer
  readonly #hdr = Buffer.alloc(FRAME_HEADER);
  #hdrFill = 0;
  #passLeft = 0; // payload bytes of a pass-through frame still to forward
  #frameLeft = 0; // payload bytes of a HEADERS/CONTINUATION frame still to collect
  #frameType = 0;
  #frameFlags = 0;
  #frameParts: Buffer[] = [];
  // Header block state (one block may span HEADERS + CONTINUATION frames).
  #inBlock = false;
  #blockStream = 0;
  #blockEndStream = false;
  #blockPriority: Buffer | null = null;
  #blockParts: Buffer[] = [];
  #blockBytes = 0;

  #readPaused = false;
  #writeCallback: ((err?: Error | null) => void) | null = null;

  constructor(socket: Duplex, options: Partial<FixAuthorityOptions> = {}) {
    super({ allowHalfOpen: true });
    this.#socket = socket;
    const replacement = options.replacement ?? 'localhost';
    if (!isValidAuthority(Buffer.from(replacement, 'latin1')) || replacement.length === 0) {
      throw new InvalidArgumentError(`invalid replacement authority "${replacement}"`);
    }
    this.#replacement = field(':authority', replacement);
    this.#replacementHost = field('host', replacement);
    this.#maxBlock = options.maxHeaderBlockSize ?? 1 << 20;
    this.#dropAck = options.dropSettingsAck ?? false;
    this.#decoder = new HpackDecoder({
      maxTableSize: options.maxTableSize ?? 65536,
      maxHeaderListSize: this.#maxBlock,
    });
    socket.on('data', this.#onData);
    socket.on('end', () => this.push(null));
    socket.on('error', (err: Error) => this.destroy(err));
    socket.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
    socket.on('drain', () => {
      const cb = this.#writeCallback;
      this.#writeCallback = null;
      cb?.();
    });
  }

  /** Number of header fields rewritten so far on this connection. */
  get rewrites(): number {
    return this.#rewrites;
  }

  override _read(): void {
    if (this.#readPaused) {
      this.#readPaused = false;
      this.#socket.resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.#socket.write(chunk)) cb();
    else this.#writeCallback = cb;
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.#socket.cork();
    let ok = true;
    for (const c of chunks) ok = this.#socket.write(c.chunk);
    this.#socket.uncork();
    if (ok) cb();
    else this.#writeCallback = cb;
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#socket.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#socket.off('data', this.#onData);
    this.#socket.destroy();
    const pending = this.#writeCallback;
    this.#writeCallback = null;
    pending?.(err);
    cb(err);
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.destroyed) return;
    let out: Buffer[];
    try {
      out = this.#process(chunk);
    } catch (err) {
      log.debug({ err }, 'dropping http/2 connection: %s', err instanceof Error ? err.message : String(err));
      this.destroy(err instanceof Error ? err : new InvalidArgumentError(String(err)));
      return;
    }
    let more = true;
    if (out.length === 1) more = this.push(out[0]);
    else if (out.length > 1) more = this.push(Buffer.concat(out));
    if (!more && !this.#readPaused) {
      this.#readPaused = true;
      this.#socket.pause();
    }
  };

  /** Turns one socket chunk into output pieces; pass-through runs are slices of `buf`. */
  #process(buf: Buffer): Buffer[] {
    if (this.#raw) return [buf];
    const out: Buffer[] = [];
    const len = buf.length;
    let pos = 0;
    let runStart = 0; // start of the pass-through run not yet in `out`
    const flushRun = (end: number): void => {
      if (end > runStart) out.push(runStart === 0 && end === len ? buf : buf.subarray(runStart, end));
    };

    while (pos < len) {
      if (this.#prefaceLeft > 0) {
        const n = Math.min(this.#prefaceLeft, len - pos);
        const at = PREFACE.length - this.#prefaceLeft;
        if (buf.compare(PREFACE, at, at + n, pos, pos + n) !== 0) {
          this.#raw = true;
          flushRun(pos);
          out.push(buf.subarray(pos));
          return out;
        }
        pos += n;
        this.#prefaceLeft -= n;
        continue;
      }
      if (this.#passLeft > 0) {
        const n = Math.min(this.#passLeft, len - pos);
        pos += n;
        this.#passLeft -= n;
        continue;
      }
      if (this.#frameLeft > 0) {
        const n = Math.min(this.#frameLeft, len - pos);
        this.#frameParts.push(buf.subarray(pos, pos + n));
        pos += n;
        this.#frameLeft -= n;
        runStart = pos;
        if (this.#frameLeft === 0) this.#endHeaderFrame(out);
        continue;
      }

      // A frame header, possibly split across chunks.
      let hdr: Buffer;
      let hdrStart: number;
      const headerInChunk = this.#hdrFill === 0 && len - pos >= FRAME_HEADER;
      if (headerInChunk) {
        hdr = buf;
        hdrStart = pos;
        pos += FRAME_HEADER;
      } else {
        const n = Math.min(FRAME_HEADER - this.#hdrFill, len - pos);
        if (this.#hdrFill === 0) flushRun(pos); // held-back bytes must not go out with the run
        buf.copy(this.#hdr, this.#hdrFill, pos, pos + n);
        this.#hdrFill += n;
        pos += n;
        runStart = pos;
        if (this.#hdrFill < FRAME_HEADER) continue;
        this.#hdrFill = 0;
        hdr = this.#hdr;
        hdrStart = 0;
      }
      const length = hdr.readUIntBE(hdrStart, 3);
      const type = hdr[hdrStart + 3]!;
      const flags = hdr[hdrStart + 4]!;
      const stream = hdr.readUInt32BE(hdrStart + 5) & 0x7fffffff;

      if (this.#inBlock && (type !== CONTINUATION || stream !== this.#blockStream)) {
        throw new InvalidArgumentError(
          `http/2: frame type ${type} inside a header block of stream ${this.#blockStream}`,
        );
      }
      if (type === PUSH_PROMISE) throw new InvalidArgumentError('http/2: client sent PUSH_PROMISE');
      if (type === HEADERS || type === CONTINUATION) {
        if (type === CONTINUATION && !this.#inBlock) {
          throw new InvalidArgumentError(`http/2: CONTINUATION without HEADERS on stream ${stream}`);
        }
        if (headerInChunk) flushRun(hdrStart);
        runStart = pos;
        this.#frameType = type;
        this.#frameFlags = flags;
        if (type === HEADERS) this.#blockStream = stream;
        this.#frameLeft = length;
        if (length === 0) this.#endHeaderFrame(out);
        continue;
      }
      if (type === SETTINGS && (flags & ACK) !== 0 && this.#dropAck) {
        this.#dropAck = false;
        if (length !== 0) throw new InvalidArgumentError('http/2: SETTINGS ACK with a payload');
        if (headerInChunk) flushRun(hdrStart);
        runStart = pos; // the frame (a header only) is left out
        continue;
      }
      // Pass-through frame: a header copied out of a split needs emitting by itself.
      if (!headerInChunk) out.push(Buffer.from(this.#hdr));
      this.#passLeft = length;
    }
    flushRun(len);
    return out;
  }

  /** A HEADERS or CONTINUATION payload is complete: add its fragment; at END_HEADERS rewrite the block. */
  #endHeaderFrame(out: Buffer[]): void {
    const parts = this.#frameParts;
    const payload = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.#frameParts = [];
    const flags = this.#frameFlags;
    let fragment = payload;
    if (this.#frameType === HEADERS) {
      const split = splitHeadersPayload(payload, flags);
      this.#blockPriority = split.priority && Buffer.from(split.priority);
      fragment = split.fragment;
      this.#blockEndStream = (flags & END_STREAM) !== 0;
      this.#blockParts = [];
      this.#blockBytes = 0;
    }
    this.#blockBytes += fragment.length;
    if (this.#blockBytes > this.#maxBlock) {
      throw new InvalidArgumentError(`http/2: header block larger than ${this.#maxBlock} bytes`);
    }
    if (fragment.length > 0) this.#blockParts.push(fragment);
    if ((flags & END_HEADERS) === 0) {
      this.#inBlock = true;
      return;
    }
    this.#inBlock = false;
    const blockParts = this.#blockParts;
    this.#blockParts = [];
    const block = blockParts.length === 1 ? blockParts[0]! : Buffer.concat(blockParts);
    out.push(this.#rewriteBlock(block));
  }

  /** Decodes, fixes and re-encodes one header block; returns the frames that carry it. */
  #rewriteBlock(block: Buffer): Buffer {
    const fields = this.#decoder.decode(block);
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if ((f.nameIndex === AUTHORITY_INDEX || f.nameIndex === HOST_INDEX) && !isValidAuthority(f.value)) {
        if (this.#rewrites++ === 0) {
          log.debug({ authority: f.value.toString('latin1') }, 'rewriting invalid authority');
        }
        fields[i] = f.nameIndex === AUTHORITY_INDEX ? this.#replacement : this.#replacementHost;
      }
    }
    const priority = this.#blockPriority;
    const head = FRAME_HEADER + (priority ? 5 : 0);
    const encoded = this.#encoder.encode(fields, head);
    const baseFlags = (this.#blockEndStream ? END_STREAM : 0) | (priority ? PRIORITY : 0);
    const stream = this.#blockStream;
    if (priority) priority.copy(encoded, FRAME_HEADER);
    if (encoded.length - FRAME_HEADER <= MAX_FRAME_PAYLOAD) {
      writeFrameHeader(encoded, 0, encoded.length - FRAME_HEADER, HEADERS, baseFlags | END_HEADERS, stream);
      return encoded;
    }
    // Too big for one frame: HEADERS with the first 16384 bytes, then CONTINUATIONs.
    const payload = encoded.length - FRAME_HEADER;
    const frames = Math.ceil(payload / MAX_FRAME_PAYLOAD);
    const out = Buffer.allocUnsafe(payload + frames * FRAME_HEADER);
    let src = FRAME_HEADER;
    let dst = 0;
    for (let i = 0; i < frames; i++) {
      const n = Math.min(MAX_FRAME_PAYLOAD, encoded.length - src);
      const last = i === frames - 1;
      const type = i === 0 ? HEADERS : CONTINUATION;
      const flags = (i === 0 ? baseFlags : 0) | (last ? END_HEADERS : 0);
      writeFrameHeader(out, dst, n, type, flags, stream);
      encoded.copy(out, dst + FRAME_HEADER, src, src + n);
      src += n;
      dst += FRAME_HEADER + n;
    }
    return out;
  }
}

function writeFrameHeader(dst: Buffer, at: number, length: number, type: number, flags: number, stream: number): void {
  dst.writeUIntBE(length, at, 3);
  dst[at + 3] = type;
  dst[at + 4] = flags;
  dst.writeUInt32BE(stream, at + 5);
}
