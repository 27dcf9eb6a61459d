/**
 * The HTTP/1.1 upgrade dockerd uses for exec start and attach, on a socket of its own: the request goes out
 * with `Connection: Upgrade, Upgrade: tcp`; a `101 UPGRADED` (or a plain 200 from older daemons) turns the
 * socket into the raw stream, anything else is an error whose JSON body is returned for the caller to map.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { fromAbort } from '../util/index.js';

export type HijackResult = { socket: Duplex } | { status: number; body: string };

const HEADER_END = Buffer.from('\r\n\r\n');

/** Sends one upgrade request over `socketPath` and waits for the response head. */
export function hijackRequest(
  socketPath: string,
  path: string,
  body: unknown,
  signal?: AbortSignal,
): Promise<HijackResult> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let head: Buffer = Buffer.alloc(0);
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      sock.destroy();
      signal?.removeEventListener('abort', onAbort);
      reject(fromAbort(err, signal));
    };
    const onAbort = (): void => fail(signal?.reason ?? new Error('aborted'));
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.once('error', fail);
    sock.once('connect', () => {
      const payload = body === undefined ? '' : JSON.stringify(body);
      sock.write(
        `POST ${path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
      );
    });
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf(HEADER_END);
      if (end < 0) {
        if (head.length > 64 * 1024) fail(new Error('dockerd sent an oversized response head'));
        return;
      }
      sock.off('data', onData);
      const lines = head.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(lines[0]?.split(' ')[1] ?? 0);
      const rest = head.subarray(end + HEADER_END.length);
      if (status === 101 || status === 200) {
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        sock.pause();
        // Bytes that arrived with the head belong to the stream.
        if (rest.length > 0) sock.unshift(rest);
        resolve({ socket: sock });
        return;
      }
      // An error answer: collect the body until the daemon closes or the declared length arrived.
      const lenLine = lines.find((l) => l.toLowerCase().startsWith('content-length:'));
      const want = lenLine ? Number(lenLine.split(':')[1]) : Number.POSITIVE_INFINITY;
      let bodyBuf = rest;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        sock.destroy();
        resolve({ status, body: bodyBuf.toString('utf8') });
      };
      if (bodyBuf.length >= want) {
        finish();
        return;
      }
      sock.on('data', (c: Buffer) => {
        bodyBuf = Buffer.concat([bodyBuf, c]);
        if (bodyBuf.length >= want) finish();
      });
      sock.once('end', finish);
      sock.once('close', finish);
    };
    sock.on('data', onData);
    sock.once('close', () => fail(new Error('dockerd closed the connection before answering')));
  });
}
