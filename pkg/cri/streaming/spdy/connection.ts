/**
 * One SPDY/3.1 connection over an upgraded socket, for either end: the server accepts the peer's streams
 * (`on('stream')`, each answered with a SYN_REPLY at once, as the Go client waits for one), the client opens
 * its own (`openStream`). Streams are node Duplexes: DATA in, DATA out, FIN as end-of-stream in each
 * direction, RST_STREAM as destroy.
 *
 * Flow control is not done: the Go clients (moby/spdystream) neither send WINDOW_UPDATE frames nor honour
 * them, so waiting for one would stall; they are read and ignored, like SETTINGS. PING is echoed.
 * Frames are handled strictly in arrival order, and sent in the order they were queued (header blocks
 * share one zlib stream per direction, so their order is part of the encoding).
 */
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import {
  controlFrame,
  dataFrame,
  decodeHeaderBlock,
  encodeHeaderBlock,
  FLAG_FIN,
  type Frame,
  FrameReader,
  FrameType,
  goAwayFrame,
  MAX_PAYLOAD,
  RST_CANCEL,
  RST_PROTOCOL_ERROR,
  rstStreamFrame,
  streamIdOf,
  synReplyFrame,
} from './frames.js';
import { HeaderCodec } from './header-codec.js';

/** One SPDY stream. `headers` are those of its SYN_STREAM (names lowercase). */
export class SpdyStream extends Duplex {
  /** True once the peer reset the stream. */
  peerReset = false;
  private sentFin = false;
  private gotFin = false;

  constructor(
    private readonly conn: SpdyConnection,
    readonly id: number,
    readonly headers: ReadonlyMap<string, string>,
  ) {
    super({ allowHalfOpen: true });
  }

  override _read(): void {
    // Data is pushed as it arrives; SPDY flow control is not used (see the file header).
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.conn.sendData(this.id, chunk, false).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.sentFin = true;
    this.conn.sendData(this.id, Buffer.alloc(0), true).then(() => cb(), cb);
    this.maybeForget();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.peerReset && !(this.sentFin && this.gotFin)) this.conn.reset(this.id, RST_CANCEL);
    this.conn.forget(this.id);
    cb(err);
  }

  /** @internal data from the peer */
  receive(data: Buffer, fin: boolean): void {
    if (this.gotFin) return;
    if (data.length > 0) this.push(data);
    if (fin) {
      this.gotFin = true;
      this.push(null);
      this.maybeForget();
    }
  }

  /** @internal the peer reset the stream */
  resetByPeer(): void {
    this.peerReset = true;
    this.destroy();
  }

  private maybeForget(): void {
    if (this.sentFin && this.gotFin) this.conn.forget(this.id);
  }
}

export interface SpdyConnectionEvents {
  stream: [SpdyStream];
  close: [];
}

export class SpdyConnection extends EventEmitter<SpdyConnectionEvents> {
  private readonly reader = new FrameReader();
  private readonly codec = new HeaderCodec();
  private readonly streams = new Map<number, SpdyStream>();
  private readonly replies = new Map<number, (ok: boolean) => void>();
  private inbox: Promise<void> = Promise.resolve();
  private outbox: Promise<void> = Promise.resolve();
  private nextId: number;
  private lastPeerId = 0;
  private closed = false;

  /** `isServer` decides the parity of our stream ids (client odd, server even). */
  constructor(
    private readonly socket: Duplex,
    isServer: boolean,
  ) {
    super();
    this.nextId = isServer ? 2 : 1;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => this.shutdown());
    socket.on('end', () => this.shutdown());
    socket.on('error', () => this.shutdown());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Feeds bytes that arrived before the connection was made (the upgrade's `head`). */
  feed(chunk: Buffer): void {
    if (chunk.length > 0) this.onData(chunk);
  }

  /** Opens a stream (client side) and resolves once the peer replied. */
  async openStream(headers: ReadonlyMap<string, string>): Promise<SpdyStream> {
    const id = this.nextId;
    this.nextId += 2;
    const stream = new SpdyStream(this, id, headers);
    this.streams.set(id, stream);
    const replied = new Promise<boolean>((resolve) => this.replies.set(id, resolve));
    await this.enqueue(async () => {
      const block = await this.codec.compress(encodeHeaderBlock(headers));
      const head = Buffer.alloc(10);
      head.writeUInt32BE(id, 0);
      return controlFrame(FrameType.SynStream, 0, Buffer.concat([head, block]));
    });
    if (!(await replied)) throw new Error(`spdy stream ${id} was refused or the connection closed`);
    return stream;
  }

  /** Sends DATA (split to frame size); resolves when the socket took it. */
  sendData(streamId: number, data: Buffer, fin: boolean): Promise<void> {
    if (data.length <= MAX_PAYLOAD) return this.enqueue(() => dataFrame(streamId, fin ? FLAG_FIN : 0, data));
    let p = Promise.resolve();
    for (let off = 0; off < data.length; off += MAX_PAYLOAD) {
      const part = data.subarray(off, off + MAX_PAYLOAD);
      const last = off + MAX_PAYLOAD >= data.length;
      p = this.enqueue(() => dataFrame(streamId, fin && last ? FLAG_FIN : 0, part));
    }
    return p;
  }

  reset(streamId: number, status: number): void {
    void this.enqueue(() => rstStreamFrame(streamId, status)).catch(() => {});
  }

  /** @internal a stream that is over on both sides */
  forget(streamId: number): void {
    this.streams.delete(streamId);
  }

  /** Sends GOAWAY, waits for queued frames to leave, and closes the socket. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.enqueue(() => goAwayFrame(this.lastPeerId)).catch(() => {});
    this.socket.end();
    this.shutdown();
  }

  /** Ends everything at once (no GOAWAY). */
  destroy(): void {
    this.socket.destroy();
    this.shutdown();
  }

  private shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const resolve of this.replies.values()) resolve(false);
    this.replies.clear();
    for (const s of [...this.streams.values()]) s.resetByPeer();
    this.streams.clear();
    this.codec.close();
    if (!this.socket.destroyed) this.socket.end();
    this.emit('close');
  }

  private enqueue(build: () => Buffer | Promise<Buffer>): Promise<void> {
    const next = this.outbox.then(async () => {
      if (this.closed || this.socket.destroyed) throw new Error('spdy connection closed');
      const frame = await build();
      if (!this.socket.write(frame)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            this.socket.off('drain', done);
            this.socket.off('close', done);
            resolve();
          };
          this.socket.on('drain', done);
          this.socket.on('close', done);
        });
      }
    });
    this.outbox = next.catch(() => {});
    return next;
  }

  private onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.reader.push(chunk);
    } catch {
      this.destroy();
      return;
    }
    for (const f of frames) {
      this.inbox = this.inbox.then(() => this.handle(f)).catch(() => this.destroy());
    }
  }

  private async handle(f: Frame): Promise<void> {
    if (this.closed) return;
    if (f.kind === 'data') {
      const s = this.streams.get(f.streamId);
      if (s) s.receive(f.data, (f.flags & FLAG_FIN) !== 0);
      return;
    }
    const p = f.payload;
    switch (f.type) {
      case FrameType.SynStream: {
        const id = streamIdOf(p);
        const headers = decodeHeaderBlock(await this.codec.decompress(p.subarray(10)));
        if (this.closed) return;
        this.lastPeerId = Math.max(this.lastPeerId, id);
        if (id === 0 || this.streams.has(id)) {
          this.reset(id, RST_PROTOCOL_ERROR);
          return;
        }
        const stream = new SpdyStream(this, id, headers);
        this.streams.set(id, stream);
        const replied = this.enqueue(async () => {
          const block = await this.codec.compress(encodeHeaderBlock(new Map()));
          return synReplyFrame(id, 0, block);
        });
        replied.catch(() => {});
        if (f.flags & FLAG_FIN) stream.receive(Buffer.alloc(0), true);
        this.emit('stream', stream);
        return;
      }
      case FrameType.SynReply: {
        const id = streamIdOf(p);
        await this.codec.decompress(p.subarray(4)); // keeps the peer's zlib stream in step
        this.replies.get(id)?.(true);
        this.replies.delete(id);
        if (f.flags & FLAG_FIN) this.streams.get(id)?.receive(Buffer.alloc(0), true);
        return;
      }
      case FrameType.Headers:
        await this.codec.decompress(p.subarray(4));
        return;
      case FrameType.RstStream: {
        const id = streamIdOf(p);
        this.replies.get(id)?.(false);
        this.replies.delete(id);
        this.streams.get(id)?.resetByPeer();
        return;
      }
      case FrameType.Ping:
        // Echo our peer's pings (odd ids from a client, even from a server); ours we never send.
        void this.enqueue(() => controlFrame(FrameType.Ping, 0, p)).catch(() => {});
        return;
      case FrameType.GoAway:
        // The peer opens no more streams; the ones open finish normally.
        return;
      default:
        // SETTINGS, WINDOW_UPDATE and unknown types are tolerated.
        return;
    }
  }
}
