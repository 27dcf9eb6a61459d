/**
 * Streaming requests waiting for their client: the CRI verb (Exec, Attach, PortForward) stores what it
 * validated under a random single-use token and returns a URL carrying it; the streaming server takes it
 * back once. A token is valid for one minute; at most 1000 wait at a time, so a client that asks for URLs
 * and never uses them cannot grow the daemon.
 */
import { randomBytes } from 'node:crypto';
import type { Containerizer } from '../../containerizer/index.js';
import { UnavailableError } from '../../util/index.js';

export interface StdioRequest {
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export type StreamRequest =
  | ({ kind: 'exec'; containerizer: Containerizer; containerId: string; cmd: string[] } & StdioRequest)
  | ({ kind: 'attach'; containerizer: Containerizer; containerId: string } & StdioRequest)
  | { kind: 'portforward'; containerizer: Containerizer; podId: string; ports: number[] };

export const TOKEN_TTL_MS = 60_000;
export const MAX_PENDING = 1000;

interface Entry {
  req: StreamRequest;
  expires: number;
}

export class RequestCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs = TOKEN_TTL_MS,
    private readonly max = MAX_PENDING,
    private readonly now: () => number = Date.now,
  ) {}

  /** Stores `req` and returns its token (URL-safe). Unavailable when `max` requests already wait. */
  insert(req: StreamRequest): string {
    this.expire();
    if (this.entries.size >= this.max) {
      throw new UnavailableError(`too many pending streaming requests (${this.max}); try again later`);
    }
    const token = randomBytes(18).toString('base64url');
    this.entries.set(token, { req, expires: this.now() + this.ttlMs });
    return token;
  }

  /** Takes the request of `token` out: undefined when unknown, expired or already used. */
  consume(token: string): StreamRequest | undefined {
    const e = this.entries.get(token);
    if (!e) return undefined;
    this.entries.delete(token);
    return e.expires > this.now() ? e.req : undefined;
  }

  get size(): number {
    this.expire();
    return this.entries.size;
  }

  private expire(): void {
    const now = this.now();
    // Insertion order is expiry order (one TTL for all), so the expired ones are at the front.
    for (const [token, e] of this.entries) {
      if (e.expires > now) break;
      this.entries.delete(token);
    }
  }
}
