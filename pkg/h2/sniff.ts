/**
 * Choosing, per connection, between the native HTTP/2 path and the `:authority` fix (authority-fix.ts).
 *
 * The fix stream costs every call on its connection: node runs HTTP/2 over any Duplex through its JS
 * stream adapter, so each read and write crosses JavaScript twice, and every header block is decoded and
 * re-encoded. Only grpc-go clients before the Kubernetes 1.31 era need it; grpc-js clients, kubelet 1.31+
 * and newer crictl send a valid authority. So the first header block of a connection is looked at before
 * grpc-js gets the socket: a valid authority hands it the socket itself (its bytes put back unread, so
 * nghttp2 reads them natively), anything else goes through the fix stream as before.
 *
 * grpc-go waits for the server's SETTINGS before it sends a request, and nghttp2 sends them only once it
 * has the socket; so we send an empty SETTINGS frame (all defaults) at once. nghttp2's own SETTINGS follow
 * after the hand-over, which HTTP/2 allows (RFC 9113 §6.5). The client acknowledges ours, and nghttp2 must
 * not see that acknowledgement (it would answer a SETTINGS ACK it has no SETTINGS in flight for with a
 * connection error): the native hand-over waits until the ACK has arrived and removes it from the bytes it
 * puts back; the fix stream drops it itself when it has not arrived yet.
 *
 * Nothing is decided on a guess: a connection whose first header block has not come within `sniffMs`
 * (a client that connects early and calls later), that is not HTTP/2, or that is malformed, takes the fix
 * stream (non-HTTP/2 bytes pass through it untouched and nghttp2 answers them).
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { logger } from '../util/index.js';
import { AuthorityFixStream, type FixAuthorityOptions, isValidAuthority } from './authority-fix.js';
import {
  ACK,
  CONTINUATION,
  END_HEADERS,
  FRAME_HEADER,
  HEADERS,
  PREFACE,
  SETTINGS,
  splitHeadersPayload,
} from './frame.js';
import { AUTHORITY_INDEX, HOST_INDEX, HpackDecoder } from './hpack.js';

const log = logger('h2');

/** An empty SETTINGS frame: the server preface with every setting at its default. */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, SETTINGS, 0, 0, 0, 0, 0]);
/** More than this many bytes before a decision: take the fix stream. */
const MAX_SNIFF = 256 * 1024;

/** Tunables of {@link serveConnection}. */
export interface ServeConnectionOptions extends Partial<FixAuthorityOptions> {
  /** How long to wait for the first header block before taking the fix stream. Default 2000 ms. */
  sniffMs?: number;
}

type Verdict = 'native' | 'fix' | 'wait';

/** Incremental reader of the client's first bytes: where its first SETTINGS ACK is, and its first authority. */
class FirstBlockScanner {
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0; // next unparsed byte of #buf
  #preface = false;
  #block: Buffer[] = [];
  #inBlock = false;
  #authority: 'valid' | 'invalid' | undefined;
  /** Offset of the first SETTINGS ACK frame in the client's byte stream, -1 until seen. */
  ackAt = -1;

  feed(chunk: Buffer): Verdict {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    if (!this.#preface) {
      const n = Math.min(PREFACE.length, this.#buf.length);
      if (this.#buf.compare(PREFACE, 0, n, 0, n) !== 0) return 'fix';
      if (this.#buf.length < PREFACE.length) return 'wait';
      this.#preface = true;
      this.#pos = PREFACE.length;
    }
    while (this.#buf.length - this.#pos >= FRAME_HEADER) {
      const at = this.#pos;
      const length = this.#buf.readUIntBE(at, 3);
      if (this.#buf.length - at - FRAME_HEADER < length) break;
      const type = this.#buf[at + 3]!;
      const flags = this.#buf[at + 4]!;
      const payload = this.#buf.subarray(at + FRAME_HEADER, at + FRAME_HEADER + length);
      this.#pos = at + FRAME_HEADER + length;
      if (this.#authority === undefined) {
        if (this.#inBlock !== (type === CONTINUATION)) return 'fix';
        if (type === HEADERS || type === CONTINUATION) {
          const fragment = type === HEADERS ? headersFragment(payload, flags) : payload;
          if (!fragment) return 'fix';
          this.#block.push(fragment);
          this.#inBlock = (flags & END_HEADERS) === 0;
          if (!this.#inBlock && !this.#checkBlock()) return 'fix';
        }
      }
      if (type === SETTINGS && (flags & ACK) !== 0 && this.ackAt < 0) {
        if (length !== 0) return 'fix';
        this.ackAt = at;
      }
      if (this.#authority === 'valid' && this.ackAt >= 0) return 'native';
    }
    return 'wait';
  }

  /** Decodes the first header block; false when its authority (or host) is one nghttp2 refuses. */
  #checkBlock(): boolean {
    try {
      const fields = new HpackDecoder({ maxTableSize: 65536 }).decode(Buffer.concat(this.#block));
      this.#block = [];
      for (const f of fields) {
        if ((f.nameIndex === AUTHORITY_INDEX || f.nameIndex === HOST_INDEX) && !isValidAuthority(f.value)) {
          this.#authority = 'invalid';
          return false;
        }
      }
      this.#authority = 'valid';
      return true;
    } catch {
      return false;
    }
  }
}

/** The header block fragment of a HEADERS payload (padding and priority removed); undefined if malformed. */
function headersFragment(payload: Buffer, flags: number): Buffer | undefined {
  try {
    return splitHeadersPayload(payload, flags).fragment;
  } catch {
    return undefined;
  }
}

/**
 * Serves one accepted client socket: `inject` receives the socket itself when the client's first request
 * carries a valid authority, else an {@link AuthorityFixStream} over it. Errors and an early close before
 * the decision destroy the socket; nothing is injected then.
 */
export function serveConnection(
  socket: net.Socket,
  inject: (stream: Duplex) => void,
  options: ServeConnectionOptions = {},
): void {
  const scanner = new FirstBlockScanner();
  const chunks: Buffer[] = [];
  let size = 0;
  let decided = false;
  const finish = (verdict: 'native' | 'fix'): void => {
    if (decided) return;
    decided = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onError);
    socket.off('close', onClose);
    socket.pause();
    let data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const ackAt = scanner.ackAt;
    if (ackAt >= 0) data = Buffer.concat([data.subarray(0, ackAt), data.subarray(ackAt + FRAME_HEADER)]);
    if (data.length > 0) socket.unshift(data);
    if (verdict === 'native') {
      inject(socket);
      return;
    }
    log.debug({ ack: ackAt >= 0 }, 'http/2 connection through the authority fix');
    const fix = new AuthorityFixStream(socket, { ...options, dropSettingsAck: ackAt < 0 });
    socket.resume(); // paused above: its 'data' listener alone would not restart it
    inject(fix);
  };
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    size += chunk.length;
    const verdict = scanner.feed(chunk);
    if (verdict !== 'wait') finish(verdict);
    else if (size > MAX_SNIFF) finish('fix');
  };
  const onError = (): void => {
    socket.destroy();
  };
  const onClose = (): void => {
    decided = true;
    clearTimeout(timer);
  };
  const timer = setTimeout(() => finish('fix'), options.sniffMs ?? 2000);
  timer.unref();
  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('close', onClose);
  socket.write(EMPTY_SETTINGS);
}
