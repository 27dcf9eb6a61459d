/**
 * The client end of the streaming protocols over SPDY/3.1, reusing the server's framing: upgrade an
 * Exec/Attach/PortForward URL, open the channel streams the way kubelet's client does (error, stdin,
 * stdout, stderr, resize), and read the outcome from the error stream. Used by `ucri exec`, `ucri attach`,
 * `ucri port-forward` and the benchmarks (against containerd's streaming server too).
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex, Readable, Writable } from 'node:stream';
import { SpdyConnection, type SpdyStream } from './spdy/connection.js';

/** How long the upgrade may take. */
const DIAL_TIMEOUT_MS = 30_000;

/**
 * Upgrades `url` to SPDY/3.1 offering `protocols`; resolves to the client connection and the protocol the
 * server chose. The URL came from the runtime over its local socket; like crictl, a TLS server's
 * certificate is not checked (the runtime's streaming certificate is usually self-signed).
 */
export function dialSpdy(url: string, protocols: string[]): Promise<{ conn: SpdyConnection; protocol: string }> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(u, {
      method: 'POST',
      headers: { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': protocols },
      rejectUnauthorized: false,
      timeout: DIAL_TIMEOUT_MS,
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${u.host} in ${DIAL_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => reject(new Error(`streaming server answered ${res.statusCode}: ${body.trim()}`)));
    });
    req.on('upgrade', (res, socket: Duplex, head: Buffer) => {
      (socket as Duplex & { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      const conn = new SpdyConnection(socket, false);
      conn.feed(head);
      resolve({ conn, protocol: String(res.headers['x-stream-protocol-version'] ?? '') });
    });
    req.end();
  });
}

/** Opens one stream named by `headers` (`streamtype` and, for port-forward, `port` and `requestid`). */
export function openStream(conn: SpdyConnection, headers: Record<string, string>): Promise<SpdyStream> {
  return conn.openStream(new Map(Object.entries(headers)));
}

function readAll(r: Readable): Promise<string> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    r.on('data', (c: Buffer) => parts.push(c));
    r.on('error', () => resolve(Buffer.concat(parts).toString('utf8')));
    r.on('close', () => resolve(Buffer.concat(parts).toString('utf8')));
    r.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
  });
}

/** The exit code a remotecommand error stream reports (v4 Status JSON, or the older plain text). */
export function exitCodeOf(text: string): number {
  const trimmed = text.trim();
  if (trimmed === '') return 0;
  let status: {
    status?: string;
    reason?: string;
    message?: string;
    details?: { causes?: { reason?: string; message?: string }[] };
  };
  try {
    status = JSON.parse(trimmed);
  } catch {
    const m = /exit code (\d+)/.exec(trimmed);
    if (m) return Number(m[1]);
    throw new Error(trimmed);
  }
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  if (status.reason === 'NonZeroExitCode' && cause?.message !== undefined) return Number(cause.message);
  throw new Error(status.message ?? trimmed);
}

export interface RemoteCommandIo {
  stdin?: Readable;
  stdout?: Writable;
  /** Omitted with a TTY (the terminal merges the two). */
  stderr?: Writable;
  tty: boolean;
  /** Called once the session is up with a function that sends a terminal size (TTY only). */
  onResize?: (send: (width: number, height: number) => void) => void;
}

/**
 * Runs an exec or attach session at `url`: copies stdin up (half-closing it at its end), stdout and stderr
 * down, and resolves to the remote exit code once the error stream has ended (attach: 0). Rejects with the
 * server's message when the session failed.
 */
export async function runRemoteCommandSpdy(url: string, io: RemoteCommandIo): Promise<number> {
  const { conn, protocol } = await dialSpdy(url, [
    'v4.channel.k8s.io',
    'v3.channel.k8s.io',
    'v2.channel.k8s.io',
    'channel.k8s.io',
  ]);
  try {
    const errorStream = await openStream(conn, { streamtype: 'error' });
    const errorText = readAll(errorStream);
    const stdin = io.stdin ? await openStream(conn, { streamtype: 'stdin' }) : undefined;
    const stdout = io.stdout ? await openStream(conn, { streamtype: 'stdout' }) : undefined;
    const stderr = io.stderr && !io.tty ? await openStream(conn, { streamtype: 'stderr' }) : undefined;
    const resizable = io.tty && (protocol === 'v4.channel.k8s.io' || protocol === 'v3.channel.k8s.io');
    const resize = resizable ? await openStream(conn, { streamtype: 'resize' }) : undefined;
    if (resize) {
      resize.resume();
      io.onResize?.((width, height) => {
        if (!resize.writableEnded && !resize.destroyed) resize.write(JSON.stringify({ Width: width, Height: height }));
      });
    }
    if (stdin && io.stdin) {
      stdin.on('error', () => {});
      stdin.resume();
      io.stdin.pipe(stdin);
    }
    const down = (from: SpdyStream | undefined, to: Writable | undefined): Promise<void> => {
      if (!from || !to) return Promise.resolve();
      from.pipe(to, { end: false });
      return new Promise((resolve) => {
        from.once('end', resolve);
        from.once('close', resolve);
      });
    };
    const [text] = await Promise.all([errorText, down(stdout, io.stdout), down(stderr, io.stderr)]);
    io.stdin?.unpipe();
    return exitCodeOf(text);
  } finally {
    await conn.close();
  }
}
