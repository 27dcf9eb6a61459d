/**
 * A Docker Engine API client over dockerd's unix socket, written with undici. It negotiates the API version
 * once (the `Api-Version` header of /_ping, capped at the newest version this code was written against),
 * maps dockerd's JSON errors to the project's error kinds, and hands out raw bodies for streaming endpoints
 * (logs, events) and hijacked connections for exec/attach (see streams.ts).
 *
 * A daemon that does not answer (socket absent, connection refused or reset) is UnavailableError naming the
 * socket, so callers report "dockerd is down" instead of an internal error.
 */
import type { Duplex, Readable } from 'node:stream';
import { Agent, errors as undiciErrors } from 'undici';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  fromAbort,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  UnauthenticatedError,
  UnavailableError,
} from '../util/index.js';
import { hijackRequest } from './hijack.js';

/** The newest Engine API version this client speaks (dockerd 20.10). */
export const MAX_API_VERSION = '1.41';
/** The oldest it accepts: health checks, `since` with nanoseconds and `Init` need at least this. */
export const MIN_API_VERSION = '1.40';

type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** Extra headers (X-Registry-Auth). */
  headers?: Record<string, string>;
}

/** Compares two `major.minor` versions. */
export function compareApiVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am - bm || an - bn;
}

function queryString(q: Query | undefined): string {
  if (!q) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined) continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(typeof v === 'boolean' ? (v ? '1' : '0') : String(v))}`);
  }
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

/** The error kind for one Engine API status; `what` names the call for the message. */
export function engineError(status: number, message: string, what: string): Error {
  const msg = `dockerd: ${what}: ${message.trim() || `HTTP ${status}`}`;
  switch (status) {
    case 400:
      return new InvalidArgumentError(msg);
    case 401:
      return new UnauthenticatedError(msg);
    case 403:
      return new PermissionDeniedError(msg);
    case 404:
      return new NotFoundError(msg);
    case 409:
      // A name in use is AlreadyExists; "is not running", "is paused" and the like are preconditions.
      return /already in use|already exists/i.test(message)
        ? new AlreadyExistsError(msg)
        : new FailedPreconditionError(msg);
    case 503:
      return new UnavailableError(msg);
    default:
      return new InternalError(msg);
  }
}

const CONNECT_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTSOCK', 'UND_ERR_SOCKET']);

/** An Engine API client bound to one socket. */
export class DockerClient {
  private readonly agent: Agent;
  private version: string | undefined;

  constructor(readonly socket: string) {
    // One connection per concurrent call; hijacked connections are detached from the pool by undici.
    this.agent = new Agent({ connect: { socketPath: socket }, keepAliveTimeout: 4000, connections: 32 });
  }

  /** The negotiated API version (after the first call). */
  apiVersion(): string | undefined {
    return this.version;
  }

  /** Forgets the negotiated version: the next call asks again (after dockerd restarted, maybe upgraded). */
  reset(): void {
    this.version = undefined;
  }

  private unavailable(err: unknown, signal?: AbortSignal): unknown {
    const e = fromAbort(err, signal);
    if (e !== err) return e;
    const code = (err as { code?: string; cause?: { code?: string } }).code;
    const causeCode = (err as { cause?: { code?: string } }).cause?.code;
    if (
      (code && CONNECT_CODES.has(code)) ||
      (causeCode && CONNECT_CODES.has(causeCode)) ||
      err instanceof undiciErrors.SocketError ||
      err instanceof undiciErrors.ConnectTimeoutError
    ) {
      this.reset();
      return new UnavailableError(`dockerd is not answering on ${this.socket}: ${causeCode ?? code ?? 'closed'}`, {
        cause: err,
      });
    }
    return err;
  }

  /** GET /_ping: resolves with the API version the daemon offers; UnavailableError when it is down. */
  async ping(signal?: AbortSignal): Promise<string> {
    try {
      const res = await this.agent.request({ origin: 'http://docker', path: '/_ping', method: 'GET', signal });
      await res.body.dump();
      if (res.statusCode !== 200) throw engineError(res.statusCode, 'ping failed', 'ping');
      const v = res.headers['api-version'];
      return typeof v === 'string' ? v : MIN_API_VERSION;
    } catch (err) {
      throw this.unavailable(err, signal);
    }
  }

  /** The version prefix of every path, negotiated on first use. */
  private async prefix(signal?: AbortSignal): Promise<string> {
    if (!this.version) {
      const offered = await this.ping(signal);
      if (compareApiVersions(offered, MIN_API_VERSION) < 0) {
        throw new FailedPreconditionError(
          `dockerd on ${this.socket} speaks API ${offered}, ucri needs ${MIN_API_VERSION}`,
        );
      }
      this.version = compareApiVersions(offered, MAX_API_VERSION) < 0 ? offered : MAX_API_VERSION;
    }
    return `/v${this.version}`;
  }

  /** A call whose answer is read whole: parsed JSON (undefined for an empty body). */
  async call<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const body = await this.raw(method, path, opts);
    const text = await body.text();
    return (text.length > 0 ? JSON.parse(text) : undefined) as T;
  }

  /** A call whose answer is streamed (logs, events, pull progress). Errors are thrown before the body. */
  async raw(method: string, path: string, opts: RequestOptions = {}): Promise<Readable & { text(): Promise<string> }> {
    const what = `${method} ${path.split('?')[0]}`;
    try {
      const prefix = await this.prefix(opts.signal);
      const headers: Record<string, string> = { ...opts.headers };
      let body: string | undefined;
      if (opts.body !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(opts.body);
      }
      const res = await this.agent.request({
        origin: 'http://docker',
        path: `${prefix}${path}${queryString(opts.query)}`,
        method: method as 'GET',
        headers,
        body,
        signal: opts.signal,
      });
      if (res.statusCode >= 400) {
        const text = await res.body.text().catch(() => '');
        let message = text;
        try {
          message = (JSON.parse(text) as { message?: string }).message ?? text;
        } catch {
          // not JSON: keep the text
        }
        throw engineError(res.statusCode, message, what);
      }
      return res.body;
    } catch (err) {
      throw this.unavailable(err, opts.signal);
    }
  }

  /**
   * Opens a hijacked connection (exec start, attach): the request is upgraded to a raw stream that carries
   * stdin one way and (multiplexed unless TTY) output the other. Done on a socket of its own (see
   * hijack.ts): undici's upgrade drops the error body of a refused upgrade, and dockerd's message matters.
   */
  async hijack(path: string, opts: RequestOptions = {}): Promise<Duplex> {
    const what = `POST ${path.split('?')[0]}`;
    try {
      const prefix = await this.prefix(opts.signal);
      const res = await hijackRequest(
        this.socket,
        `${prefix}${path}${queryString(opts.query)}`,
        opts.body,
        opts.signal,
      );
      if ('socket' in res) return res.socket;
      let message = res.body;
      try {
        message = (JSON.parse(res.body) as { message?: string }).message ?? res.body;
      } catch {
        // not JSON: keep the text
      }
      throw engineError(res.status, message, what);
    } catch (err) {
      throw this.unavailable(err, opts.signal);
    }
  }

  /** Closes every connection, aborting calls in flight (long waits and log follows included). */
  async close(): Promise<void> {
    await this.agent.destroy();
  }
}
