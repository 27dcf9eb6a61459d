/**
 * The registry client's HTTP transport, on node:http/https with keep-alive agents. It replaced undici, which
 * loaded ~20 MiB of code into every daemon (docs/performance.md, Memory); a pull needs only GETs (and one
 * token POST) with streamed bodies. Idle keep-alive sockets are unref'd by node's agents, so a client never
 * keeps a process alive.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { fromAbort, UnavailableError } from '../../util/index.js';

/** Redirects a GET follows before it gives up. */
const MAX_REDIRECTS = 5;

/** One answer: status, lower-case headers and the body, which the caller must read, dump or destroy. */
export interface HttpResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

export interface HttpRequestOptions {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal | undefined;
}

/** Keep-alive connection pools, one per scheme; one pair per registry client. */
export class HttpAgents {
  readonly http = new http.Agent({ keepAlive: true, maxSockets: 32, scheduling: 'lifo' });
  readonly https = new https.Agent({ keepAlive: true, maxSockets: 32, scheduling: 'lifo' });

  /** Closes idle connections (tests; a daemon keeps its pools for its lifetime). */
  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

/**
 * Sends one request and resolves at the response headers. Rejects with node's error (its `code`, e.g.
 * ECONNREFUSED, names the cause) or the signal's reason when aborted; an abort after the headers destroys
 * the body stream.
 */
export function httpRequest(url: URL, agents: HttpAgents, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') return Promise.reject(new Error(`unsupported protocol "${url.protocol}"`));
  return new Promise<HttpResponse>((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
    // highWaterMark (node ≥ 20 reads it; its typings lag): the response's default 16 KiB buffer paused the
    // socket so often that a 51 MB pull took ~15% longer than with undici; 1 MiB matches it (measured).
    const options: http.RequestOptions & { highWaterMark: number } = {
      method: opts.method ?? 'GET',
      headers,
      agent: secure ? agents.https : agents.http,
      highWaterMark: 1 << 20,
      ...(opts.signal ? { signal: opts.signal } : {}),
    };
    const req = (secure ? https : http).request(url, options);
    req.on('error', reject);
    req.once('response', (res) => {
      resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: res });
    });
    req.end(opts.body);
  });
}

/** Reads and drops a small body so its connection can be reused; a large or stuck one is destroyed instead. */
export async function dumpBody(body: Readable, limit = 128 * 1024): Promise<void> {
  if (body.readableEnded || body.destroyed) return;
  let seen = 0;
  try {
    for await (const chunk of body) {
      seen += (chunk as Buffer).length;
      if (seen > limit) {
        body.destroy();
        return;
      }
    }
  } catch {
    // a failed body is gone either way
  }
}

/** Maps a failed request (connection refused, DNS, reset, abort) to a domain error naming the host. */
export function networkError(host: string, err: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted) return fromAbort(err, signal);
  const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code;
  const detail = code ?? (err instanceof Error ? err.message : String(err));
  return new UnavailableError(`registry "${host}" unreachable: ${detail}`, { cause: err });
}

export interface GetOptions {
  accept: string;
  userAgent: string;
  /** Sent only to the first URL's own origin, never across a redirect to another host. */
  authorization?: string | undefined;
  /** Names the registry in errors. */
  host: string;
  signal?: AbortSignal | undefined;
}

/**
 * One GET, following up to MAX_REDIRECTS redirects (a 3xx with a Location, other than 304) to http(s) URLs
 * only. Resolves with the first answer that is not a redirect, whatever its status; rejects with
 * `networkError` for a failed request and Unavailable for too many redirects or another scheme.
 */
export async function getFollowingRedirects(url: URL, agents: HttpAgents, opts: GetOptions): Promise<HttpResponse> {
  let current = url;
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = { accept: opts.accept, 'user-agent': opts.userAgent };
    if (opts.authorization !== undefined && current.origin === url.origin) headers.authorization = opts.authorization;
    let res: HttpResponse;
    try {
      res = await httpRequest(current, agents, { method: 'GET', headers, signal: opts.signal });
    } catch (err) {
      throw networkError(current.host, err, opts.signal);
    }
    const location = res.headers.location;
    if (res.statusCode < 300 || res.statusCode >= 400 || res.statusCode === 304 || location === undefined) return res;
    await dumpBody(res.body);
    if (hop >= MAX_REDIRECTS) throw new UnavailableError(`too many redirects from "${opts.host}"`);
    const next = new URL(Array.isArray(location) ? (location[0] ?? '') : location, current);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new UnavailableError(`registry "${opts.host}" redirected to unsupported "${next.protocol}"`);
    }
    current = next;
  }
}
