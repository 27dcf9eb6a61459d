/**
 * WebSocket transport of the streaming server (not served yet: answers 400).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { StreamRequest } from './requests.js';

export class WebSocketTransport {
  constructor(
    readonly idleTimeoutMs: number,
    readonly creationTimeoutMs: number,
  ) {}

  handle(_req: IncomingMessage, socket: Duplex, _head: Buffer, _found: StreamRequest): void {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  }
}
