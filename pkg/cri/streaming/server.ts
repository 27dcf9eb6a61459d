/**
 * ucri's streaming server: HTTP(S) on a TCP address (127.0.0.1 and a free port by default), serving the
 * URLs the Exec, Attach and PortForward verbs hand out, `/<exec|attach|portforward>/<token>`. A request
 * upgrades to SPDY/3.1 (kubelet, crictl ≤ 1.29, kubectl through the API server) or to WebSocket (crictl
 * ≥ 1.30 `--transport websocket`, tools that reach the URL directly). The token is taken at the first
 * request, whatever comes of it; an unknown, expired or used one gets 404.
 */
import type { IncomingMessage } from 'node:http';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { InvalidArgumentError, logger } from '../../util/index.js';
import { RequestCache, type StreamRequest } from './requests.js';
import { SpdyConnection } from './spdy/connection.js';
import { PORTFORWARD_PROTOCOL, servePortForwardSpdy } from './spdy-portforward.js';
import { REMOTECOMMAND_PROTOCOLS, serveRemoteCommandSpdy } from './spdy-remotecommand.js';
import type { WebSocketTransport } from './websocket.js';

const log = logger('cri/streaming');

export interface StreamingOptions {
  /** `host:port` to listen on; port 0 picks a free one. */
  address: string;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: Buffer; key: Buffer };
  /** A session with no traffic for this long is closed (default 4 h). */
  idleTimeoutMs?: number;
  /** The client must create its streams within this (default 30 s). */
  creationTimeoutMs?: number;
}

/** What the CRI verbs need of the streaming server. */
export interface StreamUrls {
  /** Stores `req` under a new token and returns the URL the client must use. */
  url(req: StreamRequest): string;
}

/** Splits `host:port` (IPv6 in brackets). */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new InvalidArgumentError(`invalid streaming address "${address}" (want host:port)`);
  return { host: (m[1] ?? m[2])!, port };
}

function header(req: IncomingMessage, name: string): string[] {
  const v = req.headersDistinct[name] ?? [];
  return v
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The first of the client's protocols that we serve (the client lists its preference). */
function negotiate(offered: string[], served: string[], fallback: string): string | undefined {
  if (offered.length === 0) return fallback;
  return offered.find((p) => served.includes(p));
}

function refuse(socket: Duplex, status: number, reason: string, text: string): void {
  const body = `${text}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export class StreamingServer implements StreamUrls {
  readonly requests = new RequestCache();
  private readonly server: http.Server | https.Server;
  private readonly sockets = new Set<Duplex>();
  /** Loaded at the first WebSocket request: kubelet speaks only SPDY, so most daemons never need it. */
  private ws?: Promise<WebSocketTransport>;
  private base = '';

  private constructor(private readonly opts: StreamingOptions) {
    const onRequest = (req: IncomingMessage, res: http.ServerResponse): void => {
      const found = this.take(req);
      res.writeHead(found ? 400 : 404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(found ? 'this URL must be used with Upgrade: SPDY/3.1 or websocket\n' : 'not found\n');
    };
    this.server = opts.tls
      ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest)
      : http.createServer(onRequest);
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    this.server.on('connection', (s: Duplex) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  /** Listens on `opts.address`; resolves once bound. */
  static async start(opts: StreamingOptions): Promise<StreamingServer> {
    const { host, port } = parseAddress(opts.address);
    const s = new StreamingServer(opts);
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen({ host, port }, () => {
        s.server.off('error', reject);
        resolve();
      });
    });
    const bound = s.server.address() as AddressInfo;
    // A wildcard address is not a place a client can connect to: hand out loopback URLs then.
    const urlHost =
      host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
    s.base = `${opts.tls ? 'https' : 'http'}://${urlHost}:${bound.port}`;
    log.info({ url: s.base }, 'streaming server listening');
    return s;
  }

  /** `http(s)://host:port` of the server. */
  get baseUrl(): string {
    return this.base;
  }

  private get idleTimeoutMs(): number {
    return this.opts.idleTimeoutMs ?? 4 * 3600_000;
  }

  private get creationTimeoutMs(): number {
    return this.opts.creationTimeoutMs ?? 30_000;
  }

  url(req: StreamRequest): string {
    return `${this.base}/${req.kind}/${this.requests.insert(req)}`;
  }

  /** Stops listening and ends every connection (their sessions close and release their processes). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** The request a URL names, taken out of the cache; undefined for an unknown path or token. */
  private take(req: IncomingMessage): StreamRequest | undefined {
    const m = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)$/.exec((req.url ?? '').split('?')[0]!);
    if (!m) return undefined;
    const found = this.requests.consume(m[2]!);
    return found && found.kind === m[1] ? found : undefined;
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    // Frames are small and interactive (keystrokes, replies to stream creation): never wait on Nagle.
    (socket as Duplex & { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    const found = this.take(req);
    if (!found) {
      refuse(socket, 404, 'Not Found', 'unknown or expired streaming token');
      return;
    }
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (upgrade === 'websocket') {
      this.websocket().then(
        (ws) => ws.handle(req, socket, head, found),
        (err: unknown) => {
          log.error({ err }, 'cannot load the websocket transport');
          refuse(socket, 500, 'Internal Server Error', 'websocket transport unavailable');
        },
      );
      return;
    }
    if (upgrade !== 'spdy/3.1') {
      refuse(socket, 400, 'Bad Request', `unsupported upgrade "${req.headers.upgrade ?? ''}"`);
      return;
    }
    const offered = header(req, 'x-stream-protocol-version');
    const served = found.kind === 'portforward' ? [PORTFORWARD_PROTOCOL] : REMOTECOMMAND_PROTOCOLS;
    const protocol = negotiate(offered, served, served[served.length - 1]!);
    if (!protocol) {
      refuse(
        socket,
        403,
        'Forbidden',
        `unsupported stream protocols ${offered.join(', ')}; served: ${served.join(', ')}`,
      );
      return;
    }
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`,
    );
    this.serveSpdy(socket, head, protocol, found);
  }

  private websocket(): Promise<WebSocketTransport> {
    this.ws ??= import('./websocket.js').then(
      ({ WebSocketTransport }) =>
        new WebSocketTransport(this.idleTimeoutMs, this.creationTimeoutMs, (socket, head, protocol, found) =>
          this.serveSpdy(socket, head, protocol, found),
        ),
    );
    return this.ws;
  }

  /** Serves one SPDY session on an upgraded socket (also used for SPDY tunnelled in WebSocket). */
  serveSpdy(socket: Duplex, head: Buffer, protocol: string, found: StreamRequest): void {
    const conn = new SpdyConnection(socket, true);
    setIdleTimeout(socket, this.idleTimeoutMs, () => conn.destroy());
    if (found.kind === 'portforward') servePortForwardSpdy(conn, found, this.creationTimeoutMs);
    else {
      serveRemoteCommandSpdy(conn, protocol, found, this.creationTimeoutMs).catch((err: unknown) => {
        log.warn({ err }, `${found.kind} session failed`);
        conn.destroy();
      });
    }
    conn.feed(head);
  }
}

/** Calls `onIdle` when `socket` has carried nothing for `ms`. */
export function setIdleTimeout(socket: Duplex, ms: number, onIdle: () => void): void {
  const s = socket as Duplex & { setTimeout?: (ms: number, cb: () => void) => void };
  if (typeof s.setTimeout === 'function') s.setTimeout(ms, onIdle);
}
