/**
 * A small gRPC server: unary and server-streaming methods only, which is all the CRI and ucri's own service
 * use. It replaced grpc-js's Server on the daemon's edge because the cheap CRI calls (status, list) spent most
 * of their CPU in grpc-js's per-call machinery (docs/performance.md, "gRPC server, phase 6b"), and it speaks
 * HTTP/2 itself (pkg/h2 ServerConnection) rather than through node:http2, whose per-stream objects were most
 * of what was left ("gRPC over HTTP/2 without node:http2, phase 7"). What it implements of gRPC over HTTP/2
 * (grpc/doc/PROTOCOL-HTTP2.md):
 *
 * - Requests: POST with `content-type: application/grpc[+proto]` (others get HTTP 415); one length-prefixed
 *   message; `grpc-timeout` becomes the call's deadline; `grpc-encoding` identity, gzip or deflate (any other
 *   is refused with UNIMPLEMENTED and `grpc-accept-encoding`); a message over the receive limit is refused
 *   with RESOURCE_EXHAUSTED before it has been read whole.
 * - Responses: headers, length-prefixed messages (never compressed), then `grpc-status` / `grpc-message`
 *   trailers (message percent-encoded); an error before any message is a trailers-only response. A unary
 *   answer is one socket write (headers, message, trailers), its header blocks encoded once at load. An unknown
 *   method answers UNIMPLEMENTED; a response over the send limit ends the call with RESOURCE_EXHAUSTED.
 * - Deadline and cancellation: at the deadline the call ends with DEADLINE_EXCEEDED; a client that resets
 *   the stream or goes away cancels the call. Either is told to the implementation through
 *   {@link ServerCall.onCancel}; whatever it answers afterwards is dropped.
 * - Shutdown: {@link GrpcServer.close} sends GOAWAY on every connection, lets open calls finish for a grace
 *   period, then closes what is left (cancelling its calls).
 *
 * Connections come from the caller ({@link GrpcServer.serve}), so the listener stays outside. Any `:authority`
 * is accepted (grpc-go clients before the Kubernetes 1.31 era send the unix socket path). No metadata is
 * passed to implementations: nothing in ucri reads any.
 */
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { field, type HeaderField, HpackEncoder, ServerConnection, type ServerStream } from '../h2/index.js';
import { logger } from '../util/index.js';
import { encodeMessage, Status, StatusError } from './status.js';

const log = logger('grpc');

/** One call as its implementation sees it. */
export interface ServerCall {
  /** The method's path, e.g. `/runtime.v1.RuntimeService/Version`. */
  readonly method: string;
  /** The client's deadline in epoch milliseconds; Infinity when it sent none. */
  readonly deadline: number;
  /** True once the call has been cancelled by the client or its deadline. */
  readonly cancelled: boolean;
  /**
   * Calls `fn` once if the call is cancelled before it has answered: `deadline` when its deadline passed
   * (the server has answered DEADLINE_EXCEEDED), `cancelled` when the client reset the stream or went away.
   * Never called after the call has answered; not called for a call already cancelled (see `cancelled`).
   */
  onCancel(fn: (why: 'deadline' | 'cancelled') => void): void;
}

/** A unary method: one request, one response. */
export interface UnaryMethod<Req = unknown, Res = unknown> {
  readonly kind: 'unary';
  decode(b: Buffer): Req;
  encode(res: Res): Uint8Array;
  /** The response, or a thrown error: {@link StatusError} for its status, anything else is UNKNOWN. */
  handle(req: Req, call: ServerCall): Promise<Res>;
}

/** A server-streaming method: one request, any number of responses. */
export interface ServerStreamMethod<Req = unknown, Res = unknown> {
  readonly kind: 'server-stream';
  decode(b: Buffer): Req;
  encode(res: Res): Uint8Array;
  /** Calls `send` per response (dropped once the call is over); resolves to end the call with OK. */
  handle(req: Req, call: ServerCall, send: (res: Res) => void): Promise<void>;
}

export type Method = UnaryMethod | ServerStreamMethod;

export interface GrpcServerOptions {
  /** Largest request message accepted, in bytes (after decompression). */
  maxReceiveMessageLength: number;
  /** Largest response message sent, in bytes. */
  maxSendMessageLength: number;
}

const ACCEPT_ENCODING = 'identity,gzip,deflate';
/** Never indexes and sends no table size update: every block stands alone and constant ones are encoded once. */
const ENCODER = new HpackEncoder({ sizeUpdate: false });
const STATUS_200 = field(':status', '200');
const CONTENT_TYPE_GRPC = field('content-type', 'application/grpc');
const ACCEPT_ENCODING_FIELD = field('grpc-accept-encoding', ACCEPT_ENCODING);
const RESPONSE_HEADERS = ENCODER.encode([STATUS_200, CONTENT_TYPE_GRPC, ACCEPT_ENCODING_FIELD]);
const OK_TRAILERS = ENCODER.encode([field('grpc-status', '0')]);
const HTTP_405 = ENCODER.encode([field(':status', '405')]);
const HTTP_415 = ENCODER.encode([field(':status', '415')]);
const PATH = Buffer.from(':path');
const METHOD = Buffer.from(':method');
const CONTENT_TYPE = Buffer.from('content-type');
const GRPC_TIMEOUT = Buffer.from('grpc-timeout');
const GRPC_ENCODING = Buffer.from('grpc-encoding');
const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
/** setTimeout's largest delay; a later deadline is as good as none. */
const MAX_TIMER_MS = 2_147_483_647;

/** `grpc-timeout` (e.g. `99m`, `2S`) in milliseconds; undefined when absent or malformed. */
export function parseTimeout(value: string | undefined): number | undefined {
  if (!value || value.length < 2 || value.length > 9) return undefined;
  const unit = TIMEOUT_UNIT_MS[value[value.length - 1]!];
  const digits = value.slice(0, -1);
  if (unit === undefined || !/^\d+$/.test(digits)) return undefined;
  return Number(digits) * unit;
}

/**
 * One timer for the deadlines of every call in flight, armed for the earliest. A timer per call cost ~6 µs of
 * a cheap call: kubelet's deadlines are a fixed timeout from the call's start, so each call's delay differs
 * by a millisecond or so and node made a new timer list (and a priority-queue insert) for almost every call.
 * Here a call is a Set entry; the timer is re-armed only for a deadline earlier than the armed one, and
 * stays armed when its calls have finished (it then finds nothing to expire), so a stream of sequential
 * calls with the same timeout arms it about once per timeout. Unref'd: it never keeps the process alive.
 */
class Deadlines {
  readonly #calls = new Set<Call>();
  #timer: NodeJS.Timeout | undefined;
  #at = Number.POSITIVE_INFINITY;

  add(call: Call): void {
    this.#calls.add(call);
    if (call.deadline < this.#at) this.#arm(call.deadline);
  }

  delete(call: Call): void {
    this.#calls.delete(call);
  }

  #arm(at: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#at = at;
    this.#timer = setTimeout(() => this.#fire(), Math.min(Math.max(0, Math.ceil(at - Date.now())), MAX_TIMER_MS));
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#at = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const call of this.#calls) {
      if (call.deadline <= now) {
        this.#calls.delete(call);
        call.expire();
      } else if (call.deadline < next) {
        next = call.deadline;
      }
    }
    if (next < Number.POSITIVE_INFINITY) this.#arm(next);
  }
}

export class GrpcServer {
  readonly #methods = new Map<string, Method>();
  readonly #connections = new Set<ServerConnection>();
  readonly #opts: GrpcServerOptions;
  readonly #deadlines = new Deadlines();
  #closing = false;

  constructor(opts: GrpcServerOptions) {
    this.#opts = opts;
  }

  /** Registers `method` under its full path (`/package.Service/Method`); a second registration replaces it. */
  add(path: string, method: Method): void {
    this.#methods.set(path, method);
  }

  /** Serves one accepted connection (a socket, or any Duplex carrying HTTP/2 from a client). */
  serve(connection: Duplex): void {
    if (this.#closing) {
      connection.destroy();
      return;
    }
    const conn = new ServerConnection(connection);
    this.#connections.add(conn);
    conn.onClose = () => this.#connections.delete(conn);
    conn.onStream = (stream, fields) => this.#onStream(stream, fields);
  }

  /**
   * Refuses new calls, sends GOAWAY on every connection, waits up to `graceMs` for their calls to finish,
   * then destroys the connections still open (their calls are cancelled).
   */
  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    const open = [...this.#connections];
    if (open.length === 0) return;
    const allClosed = Promise.all(
      open.map(
        (c) =>
          new Promise<void>((resolve) => {
            const prev = c.onClose;
            c.onClose = () => {
              prev?.();
              resolve();
            };
          }),
      ),
    );
    for (const c of open) c.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([allClosed, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    for (const c of this.#connections) c.destroy();
  }

  #onStream(stream: ServerStream, fields: HeaderField[]): void {
    let httpMethod: string | undefined;
    let path = '';
    let contentType: string | undefined;
    let encoding: string | undefined;
    let timeoutValue: string | undefined;
    for (const f of fields) {
      const name = f.name;
      // Names by length first: most request fields are none of these, and a string is made only for ours.
      switch (name.length) {
        case 5:
          if (name.equals(PATH)) path = f.value.toString('latin1');
          break;
        case 7:
          if (name.equals(METHOD)) httpMethod = f.value.toString('latin1');
          break;
        case 12:
          if (name.equals(CONTENT_TYPE)) contentType = f.value.toString('latin1');
          else if (name.equals(GRPC_TIMEOUT)) timeoutValue = f.value.toString('latin1');
          break;
        case 13:
          if (name.equals(GRPC_ENCODING)) encoding = f.value.toString('latin1');
          break;
        default:
          break;
      }
    }
    if (httpMethod !== 'POST' || !contentType?.startsWith('application/grpc')) {
      stream.send(undefined, undefined, httpMethod !== 'POST' ? HTTP_405 : HTTP_415);
      return;
    }
    if (this.#closing) {
      trailersOnly(stream, Status.UNAVAILABLE, 'server is shutting down');
      return;
    }
    const method = this.#methods.get(path);
    if (!method) {
      trailersOnly(stream, Status.UNIMPLEMENTED, `the server does not implement the method ${path}`);
      return;
    }
    if (encoding !== undefined && encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'deflate') {
      trailersOnly(stream, Status.UNIMPLEMENTED, `grpc-encoding "${encoding}" is not supported`);
      return;
    }
    const timeout = parseTimeout(timeoutValue);
    const call = new Call(stream, path, method, this.#opts.maxSendMessageLength, timeout, this.#deadlines);
    const max = this.#opts.maxReceiveMessageLength;
    const chunks: Buffer[] = [];
    let size = 0;
    let checked = false;
    let dropping = false;
    stream.onData = (chunk: Buffer): void => {
      if (dropping) return; // the rest of a refused request is read and dropped
      chunks.push(chunk);
      size += chunk.length;
      if (checked || size < 5) return;
      // The first message's declared length is known from its prefix: refuse a too large one at once.
      checked = true;
      const length = (chunks.length === 1 ? chunk : Buffer.concat(chunks, size)).readUInt32BE(1);
      if (length > max) {
        dropping = true;
        chunks.length = 0;
        call.fail(tooLarge(length, max));
      }
    };
    stream.onEnd = (): void => {
      if (dropping) return;
      let req: unknown;
      try {
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
        req = method.decode(readSingleMessage(body, encoding, max));
      } catch (err) {
        call.fail(err instanceof StatusError ? err : new StatusError(Status.INTERNAL, 'error parsing request'));
        return;
      }
      call.run(req);
    };
  }
}

function tooLarge(length: number, max: number): StatusError {
  return new StatusError(Status.RESOURCE_EXHAUSTED, `received message larger than max (${length} vs. ${max})`);
}

/** The one message of a unary or server-streaming request body, decompressed. */
function readSingleMessage(body: Buffer, encoding: string | undefined, max: number): Buffer {
  if (body.length < 5) throw new StatusError(Status.INTERNAL, 'request has no message');
  const compressed = body[0]!;
  const length = body.readUInt32BE(1);
  if (length > max) throw tooLarge(length, max);
  if (body.length !== 5 + length) {
    throw new StatusError(
      Status.INTERNAL,
      body.length < 5 + length ? 'request message is truncated' : 'more than one request message',
    );
  }
  const msg = body.subarray(5);
  if (compressed === 0) return msg;
  if (compressed !== 1 || encoding === undefined || encoding === 'identity') {
    throw new StatusError(Status.INTERNAL, 'compressed flag set without a grpc-encoding');
  }
  let out: Buffer;
  try {
    const limit = { maxOutputLength: max + 1 };
    out = encoding === 'gzip' ? zlib.gunzipSync(msg, limit) : zlib.inflateSync(msg, limit);
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(max + 1, max);
    throw new StatusError(Status.INTERNAL, `cannot decompress request (${encoding})`);
  }
  if (out.length > max) throw tooLarge(out.length, max);
  return out;
}

/** `grpc-status` and `grpc-message` (percent-encoded) of a status. */
function statusFields(code: number, message: string): HeaderField[] {
  return [field('grpc-status', String(code)), field('grpc-message', encodeMessage(message))];
}

/** A trailers-only answer: HTTP status, content type and the gRPC status in one header block. */
function trailersOnly(stream: ServerStream, code: number, message: string): void {
  stream.send(
    undefined,
    undefined,
    ENCODER.encode([STATUS_200, CONTENT_TYPE_GRPC, ACCEPT_ENCODING_FIELD, ...statusFields(code, message)]),
  );
}

/** One call's state: its deadline, cancellation listeners, and the response's progress. */
class Call implements ServerCall {
  readonly deadline: number;
  #cancelled = false;
  #finished = false;
  #headersSent = false;
  #deadlines: Deadlines | undefined;
  #listeners: Array<(why: 'deadline' | 'cancelled') => void> | undefined;
  readonly #stream: ServerStream;
  readonly #method: Method;
  readonly #maxSend: number;

  constructor(
    stream: ServerStream,
    readonly method: string,
    m: Method,
    maxSend: number,
    timeoutMs: number | undefined,
    deadlines: Deadlines,
  ) {
    this.#stream = stream;
    this.#method = m;
    this.#maxSend = maxSend;
    stream.onReset = () => this.#cancel('cancelled');
    if (timeoutMs === undefined) {
      this.deadline = Number.POSITIVE_INFINITY;
    } else {
      this.deadline = Date.now() + timeoutMs;
      this.#deadlines = deadlines;
      deadlines.add(this);
    }
  }

  get cancelled(): boolean {
    return this.#cancelled;
  }

  onCancel(fn: (why: 'deadline' | 'cancelled') => void): void {
    if (this.#finished) return;
    if (this.#listeners) this.#listeners.push(fn);
    else this.#listeners = [fn];
  }

  /** Runs the implementation on the decoded request and answers with its outcome. */
  run(req: unknown): void {
    if (this.#finished) return;
    const m = this.#method;
    if (m.kind === 'unary') {
      m.handle(req, this).then(
        (res) => this.#answer(res),
        (err: unknown) => this.fail(err),
      );
    } else {
      m.handle(req, this, (res) => this.#write(res)).then(
        () => this.#end(),
        (err: unknown) => this.fail(err),
      );
    }
  }

  /** Ends the call with the status of `err` (UNKNOWN unless it is a StatusError). */
  fail(err: unknown): void {
    if (this.#finish()) return;
    const code = err instanceof StatusError ? err.code : Status.UNKNOWN;
    this.#sendStatus(code, err instanceof Error ? err.message : String(err));
  }

  /** Ends the response with a status: trailers after the response headers, or a trailers-only answer. */
  #sendStatus(code: number, message: string): void {
    if (this.#headersSent) this.#stream.send(undefined, undefined, ENCODER.encode(statusFields(code, message)));
    else trailersOnly(this.#stream, code, message);
  }

  /** Marks the call answered; true if it already was (or its stream is gone) and nothing may be sent. */
  #finish(): boolean {
    if (this.#finished) return true;
    this.#finished = true;
    this.#deadlines?.delete(this);
    return this.#stream.closed;
  }

  #frame(res: unknown): Buffer | undefined {
    const body = this.#method.encode(res as never);
    if (body.length > this.#maxSend) {
      this.fail(
        new StatusError(
          Status.RESOURCE_EXHAUSTED,
          `sent message larger than max (${body.length} vs. ${this.#maxSend})`,
        ),
      );
      return undefined;
    }
    const frame = Buffer.allocUnsafe(5 + body.length);
    frame[0] = 0;
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    return frame;
  }

  /** The response headers block, the first time only. */
  #headers(): Buffer | undefined {
    if (this.#headersSent) return undefined;
    this.#headersSent = true;
    return RESPONSE_HEADERS;
  }

  #answer(res: unknown): void {
    if (this.#finished || this.#stream.closed) {
      this.#finish();
      return;
    }
    const frame = this.#frame(res);
    if (!frame || this.#finish()) return;
    // Headers, message and status trailers: one write.
    this.#stream.send(this.#headers(), frame, OK_TRAILERS);
  }

  #write(res: unknown): void {
    if (this.#finished || this.#stream.closed) return;
    const frame = this.#frame(res);
    if (!frame) return;
    this.#stream.send(this.#headers(), frame, undefined);
  }

  #end(): void {
    if (this.#finish()) return;
    this.#stream.send(this.#headers(), undefined, OK_TRAILERS);
  }

  /** The deadline has passed (called by Deadlines): ends the call with DEADLINE_EXCEEDED. */
  expire(): void {
    if (this.#finished) return;
    this.#cancel('deadline');
    if (this.#stream.closed) return;
    this.#sendStatus(Status.DEADLINE_EXCEEDED, 'deadline exceeded');
  }

  /** Marks the call cancelled and tells the listeners, once, unless it has answered already. */
  #cancel(why: 'deadline' | 'cancelled'): void {
    if (this.#finished) return;
    this.#cancelled = true;
    this.#finished = true;
    this.#deadlines?.delete(this);
    const listeners = this.#listeners;
    this.#listeners = undefined;
    for (const fn of listeners ?? []) {
      try {
        fn(why);
      } catch (err) {
        log.error({ err, method: this.method }, 'cancellation listener failed');
      }
    }
  }
}
