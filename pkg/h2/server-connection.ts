/**
 * The server side of one HTTP/2 connection (RFC 9113), spoken directly over an accepted socket: frames are
 * parsed from the socket's chunks and written as whole answers, with no per-stream stream objects. Made for
 * ucri's gRPC edge (pkg/grpc), whose calls are one request and one or more response messages, so the surface
 * is small: a new stream is handed to `onStream` with its decoded header fields; its request body arrives
 * through `onData` / `onEnd`; the answer goes out through {@link ServerStream.send}, which writes response
 * headers, data and the final header block of a call in one socket write when the peer's windows allow.
 *
 * What it does of HTTP/2:
 * - Connection start: the client preface (then a SETTINGS frame) is required; our SETTINGS (max concurrent
 *   streams, initial window, max header list size) and a connection WINDOW_UPDATE go out at once.
 * - SETTINGS from the client are applied (INITIAL_WINDOW_SIZE moves every open stream's send window,
 *   MAX_FRAME_SIZE sizes our DATA frames and header block fragments; HEADER_TABLE_SIZE needs nothing: our
 *   HPACK encoder never inserts into the client's dynamic table) and acknowledged.
 * - Header blocks: HEADERS + CONTINUATION, padding and priority fields, decoded with one HPACK decoder per
 *   connection (Huffman and dynamic table); the encoded block and the decoded list are bounded.
 * - Flow control both ways: DATA from the client is counted against our windows and WINDOW_UPDATEs are sent
 *   for what was consumed (batched: at half a window); DATA to the client never exceeds its connection and
 *   stream windows, the rest waits in the stream for its WINDOW_UPDATE.
 * - PING is acknowledged; RST_STREAM and a GOAWAY with an error, or the socket closing, end the streams it
 *   concerns (their `onReset` is called); streams over MAX_CONCURRENT_STREAMS are refused with REFUSED_STREAM.
 * - Errors: connection errors (malformed frames, bad stream ids, broken CONTINUATION sequences, HPACK errors,
 *   window overflows) send GOAWAY with their code and close the connection; stream errors send RST_STREAM.
 * - Close: {@link ServerConnection.close} sends GOAWAY (NO_ERROR, last stream id) and ends the connection once
 *   its streams are done; {@link ServerConnection.destroy} ends it at once.
 */
import type { Duplex } from 'node:stream';
import { InvalidArgumentError } from '../util/index.js';
import {
  ACK,
  CANCEL,
  COMPRESSION_ERROR,
  CONTINUATION,
  DATA,
  DEFAULT_WINDOW,
  ENHANCE_YOUR_CALM,
  END_HEADERS,
  END_STREAM,
  encodeFrame,
  FLOW_CONTROL_ERROR,
  FRAME_HEADER,
  FRAME_SIZE_ERROR,
  GOAWAY,
  HEADERS,
  INTERNAL_ERROR,
  MAX_FRAME_PAYLOAD,
  MAX_MAX_FRAME_SIZE,
  MAX_WINDOW,
  NO_ERROR,
  PADDED,
  PING,
  PREFACE,
  PRIORITY,
  PRIORITY_FRAME,
  PROTOCOL_ERROR,
  PUSH_PROMISE,
  REFUSED_STREAM,
  RST_STREAM,
  SETTINGS,
  SETTINGS_ENABLE_PUSH,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS,
  SETTINGS_MAX_FRAME_SIZE,
  SETTINGS_MAX_HEADER_LIST_SIZE,
  STREAM_CLOSED,
  WINDOW_UPDATE,
  writeFrameHeader,
} from './frame.js';
import { type HeaderField, HpackDecoder } from './hpack.js';

/** Tunables of a {@link ServerConnection}. */
export interface ServerConnectionOptions {
  /** Streams open at once; more are refused with REFUSED_STREAM. Default 1000. */
  maxConcurrentStreams: number;
  /** Receive window of each stream (our SETTINGS_INITIAL_WINDOW_SIZE). Default 1 MiB. */
  streamWindow: number;
  /** Receive window of the connection. Default 16 MiB. */
  connectionWindow: number;
  /** Largest header list (decoded, RFC 9113 §6.5.2) and encoded header block accepted. Default 64 KiB. */
  maxHeaderListSize: number;
  /**
   * Open streams the client may reset within one second; past that the connection ends with
   * ENHANCE_YOUR_CALM (the "rapid reset" pattern: each stream opened and reset starts work). Default 1000.
   */
  maxResetsPerSecond: number;
}

const DEFAULTS: ServerConnectionOptions = {
  maxConcurrentStreams: 1000,
  streamWindow: 1 << 20,
  connectionWindow: 1 << 24,
  maxHeaderListSize: 64 * 1024,
  maxResetsPerSecond: 1000,
};

/** A protocol violation that ends the connection with GOAWAY `code`. */
class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A client that keeps sending PINGs or SETTINGS while it reads nothing would grow our write buffer without
 * end; past this many unwritten bytes (more than the largest gRPC message and its frames) it is cut off.
 */
const FLOOD_LIMIT = 32 * 1024 * 1024;

/** Small answers are assembled in one buffer; larger ones are written as a corked list of pieces. */
const COALESCE_LIMIT = 16 * 1024;

/** One request stream as the layer above sees it. */
export class ServerStream {
  /** Request body bytes (a view of the socket's chunk: copy or keep, do not modify). */
  onData: ((chunk: Buffer) => void) | undefined;
  /** The client has ended its side (END_STREAM). */
  onEnd: (() => void) | undefined;
  /** The stream ended before our side had ended it: reset by the client, or the connection went away. */
  onReset: (() => void) | undefined;

  /** @internal */ recvWindow: number;
  /** @internal */ recvUnacked = 0;
  /** @internal */ sendWindow: number;
  /** @internal */ remoteEnded = false;
  /** Our final header block has been handed to {@link send} (it may still wait for window). */
  localEnded = false;
  /** The stream is over for both sides (or was reset); nothing more is sent. */
  closed = false;
  /** @internal queued DATA payload not yet sent for lack of window, and the final block after it */
  out: Uint8Array[] | undefined;
  /** @internal */ outOffset = 0;
  /** @internal */ outTrailers: Buffer | undefined;

  constructor(
    readonly id: number,
    private readonly conn: ServerConnection,
    recvWindow: number,
    sendWindow: number,
  ) {
    this.recvWindow = recvWindow;
    this.sendWindow = sendWindow;
  }

  /**
   * Sends, in one write where the windows allow: a header block (`headers`, no END_STREAM), then `data` as
   * DATA frames, then the final header block `last` with END_STREAM (trailers, or a whole trailers-only
   * answer). Each part may be omitted; a block is split into HEADERS + CONTINUATION when it exceeds the
   * client's frame size. Blocks are complete HPACK blocks that must not depend on the dynamic table.
   * DATA beyond the client's windows (and `last` behind it) waits for its WINDOW_UPDATE. No-op once closed.
   */
  send(headers: Buffer | undefined, data: Uint8Array | undefined, last: Buffer | undefined): void {
    if (this.closed || this.localEnded) return;
    this.conn.sendOnStream(this, headers, data, last);
  }

  /** Resets the stream with `code` (default CANCEL) unless it is over already. */
  reset(code: number = CANCEL): void {
    if (this.closed) return;
    this.conn.resetStream(this, code, true);
  }
}

/** One server-side HTTP/2 connection over `socket`. */
export class ServerConnection {
  /**
   * Called for each new stream with its decoded header fields, before its body (`onData`, then `onEnd`; for
   * a request without a body `onEnd` follows at once).
   */
  onStream: (stream: ServerStream, fields: HeaderField[]) => void = () => {};
  /** Called once when the socket has closed. */
  onClose: (() => void) | undefined;

  readonly #socket: Duplex;
  readonly #opts: ServerConnectionOptions;
  readonly #decoder: HpackDecoder;
  readonly #streams = new Map<number, ServerStream>();
  /** Streams with DATA (or a final block) waiting for window, in the order they started waiting. */
  readonly #blocked = new Set<ServerStream>();
  #buf: Buffer | undefined;
  #preface = false;
  #sawSettings = false;
  #lastStreamId = 0;
  /** Header block being collected across CONTINUATION frames. */
  #block: { id: number; flags: number; parts: Buffer[]; size: number } | undefined;
  #connRecvWindow: number;
  #connRecvUnacked = 0;
  #connSendWindow = DEFAULT_WINDOW;
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = MAX_FRAME_PAYLOAD;
  /** GOAWAY sent: the last stream id it named, else -1. */
  #goawayId = -1;
  #dead = false;
  #resets = 0;
  #resetsSince = 0;

  constructor(socket: Duplex, options: Partial<ServerConnectionOptions> = {}) {
    this.#socket = socket;
    this.#opts = { ...DEFAULTS, ...options };
    this.#decoder = new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: this.#opts.maxHeaderListSize });
    this.#connRecvWindow = this.#opts.connectionWindow;
    socket.on('data', (chunk: Buffer) => this.#onChunk(chunk));
    socket.on('error', () => {}); // 'close' follows
    socket.on('close', () => this.#onSocketClose());
    socket.on('end', () => this.destroy());
    // Server preface: our SETTINGS, then the connection window opened past its default.
    const settings = Buffer.alloc(FRAME_HEADER + 18 + FRAME_HEADER + 4);
    writeFrameHeader(settings, 0, 18, SETTINGS, 0, 0);
    let at = FRAME_HEADER;
    for (const [id, value] of [
      [SETTINGS_MAX_CONCURRENT_STREAMS, this.#opts.maxConcurrentStreams],
      [SETTINGS_INITIAL_WINDOW_SIZE, this.#opts.streamWindow],
      [SETTINGS_MAX_HEADER_LIST_SIZE, this.#opts.maxHeaderListSize],
    ] as const) {
      settings.writeUInt16BE(id, at);
      settings.writeUInt32BE(value, at + 2);
      at += 6;
    }
    writeFrameHeader(settings, at, 4, WINDOW_UPDATE, 0, 0);
    settings.writeUInt32BE(this.#opts.connectionWindow - DEFAULT_WINDOW, at + FRAME_HEADER);
    socket.write(settings);
  }

  /** Streams open now (for tests and shutdown). */
  get openStreams(): number {
    return this.#streams.size;
  }

  /** Sends GOAWAY (NO_ERROR) and ends the connection once its open streams are done; new streams are ignored. */
  close(): void {
    if (this.#dead || this.#goawayId >= 0) return;
    this.#goawayId = this.#lastStreamId;
    this.#write(goawayFrame(this.#lastStreamId, NO_ERROR));
    if (this.#streams.size === 0) this.#end();
  }

  /** Ends the connection now: open streams are reset for their owners, the socket destroyed. */
  destroy(): void {
    this.#resetAll();
    this.#dead = true;
    this.#socket.destroy();
  }

  // ---- receiving ----

  #onChunk(chunk: Buffer): void {
    if (this.#dead) return;
    let buf = this.#buf ? Buffer.concat([this.#buf, chunk]) : chunk;
    this.#buf = undefined;
    let pos = 0;
    const socket = this.#socket as Duplex & { cork(): void; uncork(): void };
    socket.cork();
    try {
      if (!this.#preface) {
        const n = Math.min(PREFACE.length, buf.length);
        if (buf.compare(PREFACE, 0, n, 0, n) !== 0) throw new ConnectionError(PROTOCOL_ERROR, 'no client preface');
        if (buf.length < PREFACE.length) {
          this.#buf = buf;
          return;
        }
        this.#preface = true;
        pos = PREFACE.length;
      }
      while (buf.length - pos >= FRAME_HEADER && !this.#dead) {
        const length = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
        if (length > MAX_FRAME_PAYLOAD) {
          throw new ConnectionError(FRAME_SIZE_ERROR, `frame of ${length} bytes exceeds SETTINGS_MAX_FRAME_SIZE`);
        }
        if (buf.length - pos - FRAME_HEADER < length) break;
        const type = buf[pos + 3]!;
        const flags = buf[pos + 4]!;
        const id = buf.readUInt32BE(pos + 5) & 0x7fffffff;
        const payload = buf.subarray(pos + FRAME_HEADER, pos + FRAME_HEADER + length);
        pos += FRAME_HEADER + length;
        this.#onFrame(type, flags, id, payload);
      }
      if (pos < buf.length && !this.#dead) {
        buf = buf.subarray(pos);
        // A partial frame keeps only its own bytes, not the whole chunk it came in.
        this.#buf = buf.length < 1024 ? Buffer.from(buf) : buf;
      }
    } catch (err) {
      // A ConnectionError is the peer's fault; anything else is ours, and ends this connection only.
      if (err instanceof ConnectionError) this.#connectionError(err.code, err.message);
      else this.#connectionError(INTERNAL_ERROR, err instanceof Error ? err.message : String(err));
    } finally {
      socket.uncork();
    }
  }

  #onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (!this.#sawSettings) {
      if (type !== SETTINGS || flags & ACK) throw new ConnectionError(PROTOCOL_ERROR, 'preface without SETTINGS');
      this.#sawSettings = true;
    }
    const block = this.#block;
    if (block && (type !== CONTINUATION || id !== block.id)) {
      throw new ConnectionError(PROTOCOL_ERROR, 'header block interrupted');
    }
    switch (type) {
      case DATA:
        this.#onData(flags, id, payload);
        break;
      case HEADERS:
        this.#onHeaders(flags, id, payload);
        break;
      case CONTINUATION:
        if (!block) throw new ConnectionError(PROTOCOL_ERROR, 'CONTINUATION without HEADERS');
        this.#addFragment(block, payload);
        if (flags & END_HEADERS) this.#endBlock(block);
        break;
      case PRIORITY_FRAME:
        if (id === 0) throw new ConnectionError(PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) this.#streamError(id, FRAME_SIZE_ERROR);
        break;
      case RST_STREAM:
        this.#onRstStream(id, payload);
        break;
      case SETTINGS:
        this.#onSettings(flags, id, payload);
        break;
      case PUSH_PROMISE:
        throw new ConnectionError(PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      case PING:
        if (id !== 0) throw new ConnectionError(PROTOCOL_ERROR, 'PING on a stream');
        if (payload.length !== 8) throw new ConnectionError(FRAME_SIZE_ERROR, 'PING length');
        if ((flags & ACK) === 0) {
          this.#checkFlood();
          this.#write(encodeFrame(PING, ACK, 0, payload));
        }
        break;
      case GOAWAY:
        if (id !== 0) throw new ConnectionError(PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (payload.length < 8) throw new ConnectionError(FRAME_SIZE_ERROR, 'GOAWAY length');
        // NO_ERROR: the client opens no more streams; the open ones finish. Anything else: it is gone.
        if (payload.readUInt32BE(4) !== NO_ERROR) this.destroy();
        break;
      case WINDOW_UPDATE:
        this.#onWindowUpdate(id, payload);
        break;
      default:
        break; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  #onData(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(PROTOCOL_ERROR, 'DATA on stream 0');
    if (id > this.#lastStreamId) throw new ConnectionError(PROTOCOL_ERROR, 'DATA on an idle stream');
    const length = payload.length;
    this.#connRecvWindow -= length;
    if (this.#connRecvWindow < 0) throw new ConnectionError(FLOW_CONTROL_ERROR, 'connection window exceeded');
    // Everything received is consumed at once (given to the stream or dropped): the connection window is
    // given back in batches of half of it.
    this.#connRecvUnacked += length;
    if (this.#connRecvUnacked >= this.#opts.connectionWindow >>> 1) {
      this.#write(windowUpdateFrame(0, this.#connRecvUnacked));
      this.#connRecvWindow += this.#connRecvUnacked;
      this.#connRecvUnacked = 0;
    }
    let data = payload;
    if (flags & PADDED) {
      if (length < 1 || payload[0]! >= length) throw new ConnectionError(PROTOCOL_ERROR, 'DATA padding too long');
      data = payload.subarray(1, length - payload[0]!);
    }
    const stream = this.#streams.get(id);
    // A stream we have finished or reset: its late frames are dropped (RFC 9113 §5.1, "closed").
    if (!stream) return;
    if (stream.remoteEnded) {
      this.#streamError(id, STREAM_CLOSED);
      return;
    }
    stream.recvWindow -= length;
    if (stream.recvWindow < 0) {
      this.#streamError(id, FLOW_CONTROL_ERROR);
      return;
    }
    if (data.length > 0) stream.onData?.(data);
    if (stream.closed) return; // answered (and reset) from onData
    if (flags & END_STREAM) {
      this.#remoteEnd(stream);
      return;
    }
    stream.recvUnacked += length;
    if (stream.recvUnacked >= this.#opts.streamWindow >>> 1 && !stream.closed) {
      this.#write(windowUpdateFrame(id, stream.recvUnacked));
      stream.recvWindow += stream.recvUnacked;
      stream.recvUnacked = 0;
    }
  }

  #onHeaders(flags: number, id: number, payload: Buffer): void {
    if (id === 0 || (id & 1) === 0) throw new ConnectionError(PROTOCOL_ERROR, `HEADERS on stream ${id}`);
    let start = 0;
    let end = payload.length;
    if (flags & PADDED) {
      if (end < 1) throw new ConnectionError(PROTOCOL_ERROR, 'padded HEADERS without pad length');
      end -= payload[0]!;
      start = 1;
    }
    if (flags & PRIORITY) {
      if (payload.length >= start + 4 && (payload.readUInt32BE(start) & 0x7fffffff) === id) {
        throw new ConnectionError(PROTOCOL_ERROR, 'stream depends on itself');
      }
      start += 5;
    }
    if (end < start) throw new ConnectionError(PROTOCOL_ERROR, 'HEADERS padding longer than payload');
    const block = { id, flags, parts: [] as Buffer[], size: 0 };
    this.#addFragment(block, payload.subarray(start, end));
    if (flags & END_HEADERS) this.#endBlock(block);
    else this.#block = block;
  }

  #addFragment(block: { parts: Buffer[]; size: number }, fragment: Buffer): void {
    block.size += fragment.length;
    if (block.size > this.#opts.maxHeaderListSize) {
      throw new ConnectionError(ENHANCE_YOUR_CALM, 'header block too large');
    }
    block.parts.push(fragment);
  }

  #endBlock(block: { id: number; flags: number; parts: Buffer[] }): void {
    this.#block = undefined;
    let fields: HeaderField[];
    try {
      fields = this.#decoder.decode(block.parts.length === 1 ? block.parts[0]! : Buffer.concat(block.parts));
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) throw err;
      const tooLarge = err.message.startsWith('hpack: header list larger');
      throw new ConnectionError(tooLarge ? ENHANCE_YOUR_CALM : COMPRESSION_ERROR, err.message);
    }
    const id = block.id;
    const endStream = (block.flags & END_STREAM) !== 0;
    if (id <= this.#lastStreamId) {
      const stream = this.#streams.get(id);
      // A new stream must have a higher id than every earlier one (RFC 9113 §5.1.1); trailers on a stream
      // that is over are no better (gRPC clients send no trailers at all).
      if (!stream) throw new ConnectionError(PROTOCOL_ERROR, `HEADERS on closed stream ${id}`);
      if (stream.remoteEnded) throw new ConnectionError(STREAM_CLOSED, 'HEADERS after END_STREAM');
      // Request trailers: gRPC clients send none; they end the request like an empty DATA with END_STREAM.
      if (!endStream) this.#streamError(id, PROTOCOL_ERROR);
      else this.#remoteEnd(stream);
      return;
    }
    this.#lastStreamId = id;
    if (this.#goawayId >= 0) return; // after our GOAWAY: not processed (the client may retry it elsewhere)
    if (this.#streams.size >= this.#opts.maxConcurrentStreams) {
      this.#write(rstFrame(id, REFUSED_STREAM));
      return;
    }
    const stream = new ServerStream(id, this, this.#opts.streamWindow, this.#peerInitialWindow);
    this.#streams.set(id, stream);
    // Known before onStream, so an answer given there to a bodiless request needs no RST_STREAM after it.
    stream.remoteEnded = endStream;
    this.onStream(stream, fields);
    if (endStream && !stream.closed) stream.onEnd?.();
  }

  #remoteEnd(stream: ServerStream): void {
    stream.remoteEnded = true;
    stream.onEnd?.();
    if (stream.localEnded && !stream.out) this.#closeStream(stream);
  }

  #onRstStream(id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (payload.length !== 4) throw new ConnectionError(FRAME_SIZE_ERROR, 'RST_STREAM length');
    if (id > this.#lastStreamId) throw new ConnectionError(PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
    const stream = this.#streams.get(id);
    if (!stream) return;
    const now = Date.now();
    if (now - this.#resetsSince >= 1000) {
      this.#resetsSince = now;
      this.#resets = 0;
    }
    if (++this.#resets > this.#opts.maxResetsPerSecond) {
      throw new ConnectionError(ENHANCE_YOUR_CALM, 'too many streams reset');
    }
    this.resetStream(stream, -1, false);
  }

  #onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & ACK) {
      if (payload.length !== 0) throw new ConnectionError(FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(FRAME_SIZE_ERROR, 'SETTINGS length');
    this.#checkFlood();
    for (let at = 0; at < payload.length; at += 6) {
      const key = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      switch (key) {
        case SETTINGS_ENABLE_PUSH:
          if (value > 1) throw new ConnectionError(PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH not 0 or 1');
          break;
        case SETTINGS_INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) throw new ConnectionError(FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE');
          const delta = value - this.#peerInitialWindow;
          this.#peerInitialWindow = value;
          for (const s of this.#streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW) throw new ConnectionError(FLOW_CONTROL_ERROR, 'stream window overflow');
          }
          break;
        }
        case SETTINGS_MAX_FRAME_SIZE:
          if (value < MAX_FRAME_PAYLOAD || value > MAX_MAX_FRAME_SIZE) {
            throw new ConnectionError(PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
          }
          this.#peerMaxFrame = value;
          break;
        default:
          // HEADER_TABLE_SIZE: our encoder never uses the client's dynamic table. MAX_CONCURRENT_STREAMS:
          // we open no streams. MAX_HEADER_LIST_SIZE: advisory; our headers are small. Unknown: ignored.
          break;
      }
    }
    this.#write(SETTINGS_ACK);
    this.#flush();
  }

  #onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(FRAME_SIZE_ERROR, 'WINDOW_UPDATE length');
    const inc = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) throw new ConnectionError(PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.#connSendWindow += inc;
      if (this.#connSendWindow > MAX_WINDOW) throw new ConnectionError(FLOW_CONTROL_ERROR, 'window overflow');
    } else {
      if (id > this.#lastStreamId) throw new ConnectionError(PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
      const stream = this.#streams.get(id);
      if (!stream) return;
      if (inc === 0) {
        this.#streamError(id, PROTOCOL_ERROR);
        return;
      }
      stream.sendWindow += inc;
      if (stream.sendWindow > MAX_WINDOW) {
        this.#streamError(id, FLOW_CONTROL_ERROR);
        return;
      }
    }
    this.#flush();
  }

  // ---- sending ----

  /** @internal see {@link ServerStream.send} */
  sendOnStream(
    stream: ServerStream,
    headers: Buffer | undefined,
    data: Uint8Array | undefined,
    last: Buffer | undefined,
  ): void {
    if (this.#dead) return;
    const pieces: Uint8Array[] = [];
    if (headers) this.#pushBlock(pieces, stream.id, headers, 0);
    if (data && data.length > 0) {
      if (stream.out) stream.out.push(data);
      else this.#pushData(pieces, stream, data, 0);
    }
    if (last) {
      stream.localEnded = true;
      if (stream.out) stream.outTrailers = last;
      else this.#pushBlock(pieces, stream.id, last, END_STREAM);
    }
    this.#writePieces(pieces);
    if (stream.localEnded && !stream.out) this.#localDone(stream);
  }

  /** Appends `data` from `offset` as DATA frames within the windows; queues what does not fit. */
  #pushData(pieces: Uint8Array[], stream: ServerStream, data: Uint8Array, offset: number): void {
    while (offset < data.length) {
      const n = Math.min(data.length - offset, this.#connSendWindow, stream.sendWindow, this.#peerMaxFrame);
      if (n <= 0) {
        stream.out = [data];
        stream.outOffset = offset;
        this.#blocked.add(stream);
        return;
      }
      const head = Buffer.allocUnsafe(FRAME_HEADER);
      writeFrameHeader(head, 0, n, DATA, 0, stream.id);
      pieces.push(head, data.subarray(offset, offset + n));
      offset += n;
      this.#connSendWindow -= n;
      stream.sendWindow -= n;
    }
  }

  #pushBlock(pieces: Uint8Array[], id: number, block: Buffer, flags: number): void {
    let type = HEADERS;
    let at = 0;
    do {
      const n = Math.min(block.length - at, this.#peerMaxFrame);
      const endHeaders = at + n === block.length ? END_HEADERS : 0;
      const head = Buffer.allocUnsafe(FRAME_HEADER);
      writeFrameHeader(head, 0, n, type, endHeaders | (type === HEADERS ? flags : 0), id);
      pieces.push(head, at === 0 && n === block.length ? block : block.subarray(at, at + n));
      at += n;
      type = CONTINUATION;
    } while (at < block.length);
  }

  /** Sends what the windows now allow of the blocked streams, in the order they blocked. */
  #flush(): void {
    if (this.#blocked.size === 0 || this.#dead) return;
    const pieces: Uint8Array[] = [];
    // Taken out first: a stream that blocks again is added back, which must not revisit it in this loop.
    const waiting = [...this.#blocked];
    this.#blocked.clear();
    for (const stream of waiting) {
      if (this.#connSendWindow <= 0 || stream.sendWindow <= 0) {
        this.#blocked.add(stream);
        continue;
      }
      const queued = stream.out!;
      stream.out = undefined;
      let i = 0;
      let offset = stream.outOffset;
      stream.outOffset = 0;
      let rest: Uint8Array[] | undefined;
      for (; i < queued.length; i++) {
        this.#pushData(pieces, stream, queued[i]!, offset);
        offset = 0;
        rest = stream.out as Uint8Array[] | undefined; // set by #pushData when the windows ran out
        if (rest) break;
      }
      if (rest) {
        // Still blocked: the rest of the queue goes behind the part that did not fit.
        for (i++; i < queued.length; i++) rest.push(queued[i]!);
        continue;
      }
      if (stream.outTrailers) {
        this.#pushBlock(pieces, stream.id, stream.outTrailers, END_STREAM);
        stream.outTrailers = undefined;
      }
      if (stream.localEnded) this.#localDone(stream);
    }
    this.#writePieces(pieces);
  }

  #writePieces(pieces: Uint8Array[]): void {
    if (pieces.length === 0) return;
    let total = 0;
    for (const p of pieces) total += p.length;
    if (total <= COALESCE_LIMIT || pieces.length === 1) {
      if (pieces.length === 1) {
        this.#socket.write(pieces[0]!);
        return;
      }
      const out = Buffer.allocUnsafe(total);
      let at = 0;
      for (const p of pieces) {
        out.set(p, at);
        at += p.length;
      }
      this.#socket.write(out);
      return;
    }
    const socket = this.#socket as Duplex & { cork(): void; uncork(): void };
    socket.cork();
    for (const p of pieces) socket.write(p);
    socket.uncork();
  }

  /** Our side has sent its END_STREAM: the stream closes now, or is cut short if the request is still coming. */
  #localDone(stream: ServerStream): void {
    if (stream.closed) return;
    if (!stream.remoteEnded) {
      // Answered before the whole request arrived (refused, too large, deadline): tell the client to stop.
      this.#write(rstFrame(stream.id, NO_ERROR));
    }
    this.#closeStream(stream);
  }

  #closeStream(stream: ServerStream): void {
    stream.closed = true;
    stream.out = undefined;
    this.#blocked.delete(stream);
    this.#streams.delete(stream.id);
    if (this.#goawayId >= 0 && this.#streams.size === 0) this.#end();
  }

  /**
   * @internal Ends `stream` before its answer is complete: sends RST_STREAM `code` when `send`, and tells its
   * owner (onReset) unless our side had already ended it.
   */
  resetStream(stream: ServerStream, code: number, send: boolean): void {
    if (stream.closed) return;
    const wasEnded = stream.localEnded;
    this.#closeStream(stream);
    if (send && !this.#dead) this.#write(rstFrame(stream.id, code));
    if (!wasEnded) stream.onReset?.();
  }

  #checkFlood(): void {
    if (this.#socket.writableLength > FLOOD_LIMIT) {
      throw new ConnectionError(ENHANCE_YOUR_CALM, 'control frames while not reading');
    }
  }

  #streamError(id: number, code: number): void {
    const stream = this.#streams.get(id);
    if (stream) this.resetStream(stream, code, true);
    else this.#write(rstFrame(id, code));
  }

  #connectionError(code: number, message: string): void {
    if (this.#dead) return;
    const debug = Buffer.from(message, 'utf8');
    this.#write(goawayFrame(this.#lastStreamId, code, debug));
    this.#resetAll();
    this.#end();
  }

  #resetAll(): void {
    for (const stream of [...this.#streams.values()]) this.resetStream(stream, CANCEL, false);
  }

  /** Ends our side of the socket after what is written; destroyed once flushed. */
  #end(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#socket.end();
    this.#socket.once('finish', () => this.#socket.destroy());
  }

  #write(frame: Buffer): void {
    if (!this.#dead) this.#socket.write(frame);
  }

  #onSocketClose(): void {
    this.#dead = true;
    this.#resetAll();
    this.onClose?.();
  }
}

const SETTINGS_ACK = encodeFrame(SETTINGS, ACK, 0);

/** A frame whose payload is one 32-bit value (RST_STREAM's error code, WINDOW_UPDATE's increment). */
function u32Frame(type: number, id: number, value: number): Buffer {
  const f = Buffer.allocUnsafe(FRAME_HEADER + 4);
  writeFrameHeader(f, 0, 4, type, 0, id);
  f.writeUInt32BE(value, FRAME_HEADER);
  return f;
}

function rstFrame(id: number, code: number): Buffer {
  return u32Frame(RST_STREAM, id, code);
}

function windowUpdateFrame(id: number, inc: number): Buffer {
  return u32Frame(WINDOW_UPDATE, id, inc);
}

function goawayFrame(lastId: number, code: number, debug?: Buffer): Buffer {
  const n = 8 + (debug?.length ?? 0);
  const f = Buffer.allocUnsafe(FRAME_HEADER + n);
  writeFrameHeader(f, 0, n, GOAWAY, 0, 0);
  f.writeUInt32BE(lastId, FRAME_HEADER);
  f.writeUInt32BE(code, FRAME_HEADER + 4);
  debug?.copy(f, FRAME_HEADER + 8);
  return f;
}
