/**
 * The registry client's HTTP transport, on node:http/https with keep-alive agents. It replaced undici, which
 * loaded ~20 MiB of code into every daemon (docs/performance.md, Memory); a pull needs only GETs (and one
 * token POST) with streamed bodies. Idle keep-alive sockets are unref'd by node's agents, so a client never
 * keeps a process alive.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

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
