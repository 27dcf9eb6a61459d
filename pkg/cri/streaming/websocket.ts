/**
 * WebSocket transport of the streaming server (the `ws` package). Channel protocols multiplex numbered
 * channels on one WebSocket: a binary message is one channel byte then the data; the `base64.` variants
 * send text messages, the channel as an ASCII digit then the data in base64.
 *
 * - exec and attach: channels 0 stdin, 1 stdout, 2 stderr, 3 error (the outcome), 4 resize (TTY sizes as
 *   JSON). `v5.channel.k8s.io` adds the close signal, a message `[255, channel]` ending that channel (how a
 *   client half-closes stdin); `v4.` reports the outcome as a Status JSON like SPDY's v4, the older ones as
 *   plain text. The server first sends an empty message on its lowest open output channel to tell the client
 *   the session is up.
 * - port-forward with channels: the ports come from the `port` query parameters; port i gets channel 2i for
 *   data (both ways) and 2i+1 for errors, and the server's first message on each carries the port as two
 *   little-endian bytes. Each pair is one connection to the target; the WebSocket closes when all are over.
 * - port-forward tunnelling SPDY (`SPDY/3.1+portforward.k8s.io`): binary messages carry a SPDY session,
 *   served exactly as an upgraded SPDY connection is.
 */
import type { IncomingMessage } from 'node:http';
import { Duplex, PassThrough, type Readable, Writable } from 'node:stream';
import { createWebSocketStream, type RawData, type WebSocket, WebSocketServer } from 'ws';
import { logger } from '../../util/index.js';
import type { StreamRequest } from './requests.js';
import { type Channels, type Outcome, runRemoteCommand, statusJson, statusText } from './remotecommand.js';
import { parsePort, relay } from './spdy-portforward.js';

const log = logger('cri/streaming');

/** Subprotocols of exec and attach, most preferred first. */
export const WS_REMOTECOMMAND_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'channel.k8s.io',
  'base64.channel.k8s.io',
];

export const SPDY_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';

/** Subprotocols of port-forward, most preferred first. */
export const WS_PORTFORWARD_PROTOCOLS = [
  SPDY_TUNNEL_PROTOCOL,
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'portforward.k8s.io',
];

/** The v5 message that closes a channel: `[CLOSE_SIGNAL, channel]`. */
export const CLOSE_SIGNAL = 255;

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;

/** How an SPDY session is served on a byte stream (the streaming server's own SPDY path). */
export type ServeSpdy = (socket: Duplex, head: Buffer, protocol: string, found: StreamRequest) => void;

/** The protocols a client offers in Sec-WebSocket-Protocol, in its order. */
function offeredProtocols(req: IncomingMessage): string[] {
  return (req.headersDistinct['sec-websocket-protocol'] ?? [])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function refuse(socket: Duplex, status: number, reason: string, text: string): void {
  const body = `${text}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The ports named by the `port` query parameters (repeated or comma-separated); an error text if invalid. */
export function queryPorts(url: string): number[] | string {
  const params = new URL(url, 'http://x').searchParams.getAll('port');
  if (params.length === 0) return 'query parameter "port" is required';
  const ports: number[] = [];
  for (const text of params.flatMap((p) => p.split(','))) {
    const port = parsePort(text.trim());
    if (port === undefined) return `invalid port "${text}" (want 1-65535)`;
    ports.push(port);
  }
  return ports;
}

/**
 * Channels multiplexed on one WebSocket. Readable channels are created up front (data for channels nobody
 * asked for is dropped, as are malformed messages); writers frame what they are given, one message a write.
 */
class ChannelSocket {
  private readonly readers = new Map<number, PassThrough>();

  constructor(
    private readonly ws: WebSocket,
    private readonly base64: boolean,
    private readonly closeSignal: boolean,
  ) {
    ws.on('message', (raw: RawData, isBinary: boolean) => this.onMessage(raw, isBinary));
    ws.once('close', () => {
      for (const r of this.readers.values()) r.destroy();
    });
  }

  /** A channel the client writes to. */
  reader(channel: number): Readable {
    const r = new PassThrough();
    r.on('error', () => {});
    // Back-pressure: stop reading the socket while a consumer is behind.
    r.on('drain', () => this.ws.resume());
    this.readers.set(channel, r);
    return r;
  }

  /** A channel the server writes to; ending it sends nothing (a channel has no end of its own). */
  writer(channel: number): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => this.send(channel, chunk, cb),
    });
  }

  /** Sends `data` on `channel`; `cb` runs once the socket took it. */
  send(channel: number, data: Buffer, cb?: (err?: Error | null) => void): void {
    if (this.ws.readyState !== this.ws.OPEN) {
      cb?.(new Error('websocket closed'));
      return;
    }
    const frame = this.base64
      ? `${String.fromCharCode(48 + channel)}${data.toString('base64')}`
      : Buffer.concat([Buffer.of(channel), data]);
    this.ws.send(frame, { binary: !this.base64 }, (err) => cb?.(err ?? null));
  }

  private onMessage(raw: RawData, isBinary: boolean): void {
    const buf = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw as ArrayBuffer);
    if (buf.length === 0) return;
    if (this.closeSignal && buf[0] === CLOSE_SIGNAL) {
      if (buf.length >= 2) this.readers.get(buf[1]!)?.end();
      return;
    }
    let channel: number;
    let data: Buffer;
    if (this.base64) {
      channel = buf[0]! - 48;
      data = Buffer.from(buf.subarray(1).toString('latin1'), 'base64');
    } else {
      if (!isBinary) return;
      channel = buf[0]!;
      data = buf.subarray(1);
    }
    const r = this.readers.get(channel);
    if (!r || r.writableEnded || data.length === 0) return;
    if (!r.write(data)) this.ws.pause();
  }
}

export class WebSocketTransport {
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  /** The subprotocol chosen for each request being upgraded, answered in the handshake's headers. */
  private readonly chosen = new WeakMap<IncomingMessage, string>();

  constructor(
    readonly idleTimeoutMs: number,
    readonly creationTimeoutMs: number,
    private readonly serveSpdy: ServeSpdy,
  ) {
    this.wss.on('headers', (headers: string[], req: IncomingMessage) => {
      const protocol = this.chosen.get(req);
      if (protocol) headers.push(`Sec-WebSocket-Protocol: ${protocol}`);
    });
  }

  handle(req: IncomingMessage, socket: Duplex, head: Buffer, found: StreamRequest): void {
    const served = found.kind === 'portforward' ? WS_PORTFORWARD_PROTOCOLS : WS_REMOTECOMMAND_PROTOCOLS;
    const offered = offeredProtocols(req);
    // No subprotocol at all: the binary channel protocol, as kubelet does.
    const protocol = offered.length === 0 ? '' : offered.find((p) => served.includes(p));
    if (protocol === undefined) {
      refuse(socket, 400, 'Bad Request', `unsupported protocols ${offered.join(', ')}; served: ${served.join(', ')}`);
      return;
    }
    let ports: number[] = [];
    if (found.kind === 'portforward' && protocol !== SPDY_TUNNEL_PROTOCOL) {
      const parsed = queryPorts(req.url ?? '');
      if (typeof parsed === 'string') {
        refuse(socket, 400, 'Bad Request', parsed);
        return;
      }
      ports = parsed;
    }
    // The `ws` package refuses protocol names that are not HTTP tokens, and `SPDY/3.1+portforward.k8s.io`
    // is not one: negotiation is ours, the header is taken out of its sight and answered in 'headers'.
    delete req.headers['sec-websocket-protocol'];
    if (protocol !== '') this.chosen.set(req, protocol);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', (err) => log.debug({ err }, 'websocket error'));
      const tcp = socket as Duplex & { setTimeout?: (ms: number, cb: () => void) => void };
      tcp.setTimeout?.(this.idleTimeoutMs, () => ws.terminate());
      if (found.kind === 'portforward') {
        if (protocol === SPDY_TUNNEL_PROTOCOL) this.serveSpdy(tunnel(ws), Buffer.alloc(0), 'portforward.k8s.io', found);
        else servePortForwardChannels(ws, protocol, ports, found);
      } else {
        serveRemoteCommandWs(ws, protocol, found).catch((err: unknown) => {
          log.warn({ err }, `${found.kind} session failed`);
          ws.terminate();
        });
      }
    });
  }
}

/** The WebSocket as a byte stream: binary messages in and out (for a tunnelled SPDY session). */
function tunnel(ws: WebSocket): Duplex {
  const d = createWebSocketStream(ws);
  d.on('error', () => {});
  return d;
}

/** Serves one exec or attach session on `ws` through the transport-neutral runRemoteCommand. */
export async function serveRemoteCommandWs(
  ws: WebSocket,
  protocol: string,
  req: Extract<StreamRequest, { kind: 'exec' | 'attach' }>,
): Promise<void> {
  const conn = new ChannelSocket(ws, protocol.includes('base64'), protocol === 'v5.channel.k8s.io');
  const gone = new AbortController();
  ws.once('close', () => gone.abort());
  const stderr = req.stderr && !req.tty;
  const stdout = req.stdout ? conn.writer(STDOUT) : undefined;
  const stderrW = stderr ? conn.writer(STDERR) : undefined;
  // The client learns the session is up from an empty message on the lowest channel we write to.
  conn.send(req.stdout ? STDOUT : stderr ? STDERR : ERROR, Buffer.alloc(0));
  const statusV4 = protocol.startsWith('v4.') || protocol.startsWith('v5.');
  const finish = async (outcome: Outcome): Promise<void> => {
    const flushed = (w: Writable | undefined): Promise<void> =>
      !w || w.writableFinished || w.destroyed
        ? Promise.resolve()
        : new Promise((resolve) => {
            w.once('error', () => resolve());
            w.end(() => resolve());
          });
    await Promise.race([
      Promise.all([flushed(stdout), flushed(stderrW)]),
      new Promise((resolve) => setTimeout(resolve, 5000)),
    ]);
    const text = statusV4 ? statusJson(outcome) : statusText(outcome);
    await new Promise<void>((resolve) => {
      if (text === '') resolve();
      else conn.send(ERROR, Buffer.from(text), () => resolve());
    });
    ws.close(1000);
  };
  const ch: Channels = {
    stdin: req.stdin ? conn.reader(STDIN) : undefined,
    stdout,
    stderr: stderrW,
    resize: req.tty ? conn.reader(RESIZE) : undefined,
    gone: gone.signal,
    finish,
  };
  await runRemoteCommand(req, ch);
  if (ws.readyState === ws.OPEN) ws.close(1000);
}

/** Port-forward with channel pairs: one connection to the target per port of the query. */
function servePortForwardChannels(
  ws: WebSocket,
  protocol: string,
  ports: number[],
  req: Extract<StreamRequest, { kind: 'portforward' }>,
): void {
  const conn = new ChannelSocket(ws, protocol.includes('base64'), false);
  const session = new AbortController();
  ws.once('close', () => session.abort());
  const allowed = new Set(req.ports);
  const pairs = ports.map(async (port, i) => {
    const dataCh = 2 * i;
    const errorCh = dataCh + 1;
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(port);
    conn.send(dataCh, prefix);
    conn.send(errorCh, prefix);
    const incoming = conn.reader(dataCh);
    const fail = (text: string): void => {
      incoming.resume();
      conn.send(errorCh, Buffer.from(text));
    };
    if (allowed.size > 0 && !allowed.has(port)) {
      fail(`port ${port} was not asked for in the port-forward request of pod "${req.podId}"`);
      return;
    }
    let target: Duplex;
    try {
      target = await req.containerizer.portForward(req.podId, port, session.signal);
    } catch (err) {
      fail(`error forwarding port ${port} to pod "${req.podId}": ${(err as Error).message}`);
      return;
    }
    // A channel cannot be half-closed: the pair is over when the target has nothing more to send.
    const data = Duplex.from({ readable: incoming, writable: conn.writer(dataCh) });
    await relay(data, target, () => {
      target.destroy();
      data.destroy();
    });
  });
  void Promise.all(pairs).then(() => {
    if (ws.readyState === ws.OPEN) ws.close(1000);
  });
}
