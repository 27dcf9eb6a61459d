/**
 * portforward.k8s.io over SPDY: each forwarded connection is a pair of streams, `error` and `data`, with
 * the same `requestid` and `port` headers. Pairs are independent: a reset from the client or an error
 * from the target (ECONNRESET, EPIPE) ends that pair only, never the session. A target that cannot be
 * reached is reported as text on the pair's error stream.
 */
import type { Duplex } from 'node:stream';
import { logger } from '../../util/index.js';
import type { StreamRequest } from './requests.js';
import type { SpdyConnection, SpdyStream } from './spdy/connection.js';
import { RST_PROTOCOL_ERROR } from './spdy/frames.js';

const log = logger('cri/streaming');

export const PORTFORWARD_PROTOCOL = 'portforward.k8s.io';

type PortForwardRequest = Extract<StreamRequest, { kind: 'portforward' }>;

interface Pair {
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

/** Parses a port header: an integer in 1-65535, else undefined. */
export function parsePort(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/**
 * Relays one forwarded connection between `data` (the client's stream) and `target`, each direction until
 * its end, so half-closes pass through. `onTargetDone` runs once the target has nothing more to send (its
 * end, its close or an error): the caller reports the pair's outcome then, since a client (client-go's
 * port-forward, so crictl and kubectl) waits for the error stream to end before it closes its side. The
 * promise settles when both directions are over or either side closed or failed; the target is then
 * destroyed. Errors end the pair quietly.
 */
export function relay(data: Duplex, target: Duplex, onTargetDone?: () => void): Promise<void> {
  return new Promise((resolve) => {
    let targetDone = false;
    const finishTarget = (): void => {
      if (targetDone) return;
      targetDone = true;
      onTargetDone?.();
    };
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      target.destroy();
      // Whatever the client still sends has nowhere to go.
      if (!data.destroyed) data.resume();
      finishTarget();
      resolve();
    };
    const abort = (): void => {
      data.destroy();
      settle();
    };
    let up = false;
    let down = false;
    target.on('error', abort);
    data.on('error', abort);
    data.on('close', () => (data.readableEnded ? settle() : abort()));
    target.on('close', () => (target.readableEnded ? settle() : abort()));
    data.pipe(target);
    target.pipe(data);
    data.once('end', () => {
      up = true;
      if (down) settle();
    });
    target.once('end', () => {
      down = true;
      finishTarget();
      if (up) settle();
    });
  });
}

export function servePortForwardSpdy(conn: SpdyConnection, req: PortForwardRequest, creationTimeoutMs: number): void {
  const pairs = new Map<string, Pair>();
  const allowed = new Set(req.ports);
  const session = new AbortController();
  conn.once('close', () => {
    session.abort();
    for (const p of pairs.values()) clearTimeout(p.timer);
  });
  conn.on('stream', (s) => {
    const type = s.headers.get('streamtype');
    const requestId = s.headers.get('requestid') ?? `stream-${s.id}`;
    const port = parsePort(s.headers.get('port'));
    if ((type !== 'error' && type !== 'data') || port === undefined) {
      conn.reset(s.id, RST_PROTOCOL_ERROR);
      return;
    }
    let pair = pairs.get(requestId);
    if (!pair) {
      const timer = setTimeout(() => {
        pairs.delete(requestId);
        pair?.error?.destroy();
        pair?.data?.destroy();
      }, creationTimeoutMs);
      pair = { timer };
      pairs.set(requestId, pair);
    }
    if (pair[type]) {
      conn.reset(s.id, RST_PROTOCOL_ERROR);
      return;
    }
    pair[type] = s;
    if (!pair.error || !pair.data) return;
    clearTimeout(pair.timer);
    pairs.delete(requestId);
    const { error, data } = pair;
    error.resume();
    error.on('error', () => {});
    void (async () => {
      if (allowed.size > 0 && !allowed.has(port)) {
        error.end(`port ${port} was not asked for in the port-forward request of pod "${req.podId}"`);
        data.end();
        return;
      }
      let target: Duplex;
      try {
        target = await req.containerizer.portForward(req.podId, port, session.signal);
      } catch (err) {
        error.end(`error forwarding port ${port} to pod "${req.podId}": ${(err as Error).message}`);
        data.end();
        return;
      }
      await relay(data, target, () => {
        if (!error.destroyed && !error.writableEnded) error.end();
      });
    })().catch((err: unknown) => log.warn({ err, pod: req.podId, port }, 'port-forward pair failed'));
  });
}
