/**
 * A small in-process Docker Registry v2 for the registry client tests: manifests and blobs in memory, with
 * anonymous, Bearer (token endpoint on the same server) or Basic auth, optional blob redirects to another
 * server, blobs that stall mid-way or trickle in slowly, and a log of every request.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Hit {
  method: string;
  path: string;
  authorization: string | undefined;
}

export interface FakeRegistryOptions {
  auth?: 'none' | 'bearer' | 'basic';
  /** Required credentials (Basic at the registry, or at the token endpoint for bearer). */
  user?: string;
  password?: string;
  /** Base URL blobs are redirected to (another server); blobs are served directly otherwise. */
  redirectBlobsTo?: string;
  /** Answer every request with this status. */
  status?: number;
}

export const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export class FakeRegistry {
  readonly hits: Hit[] = [];
  readonly manifests = new Map<string, { body: Buffer; type: string }>();
  readonly blobs = new Map<string, Buffer>();
  /** Blobs served only up to this many bytes, after which the response stalls (never ends) until stop(). */
  readonly stallAfter = new Map<string, number>();
  /** Blobs sent in this many pieces, one every `trickleMs` (a slow but moving download). */
  readonly trickle = new Map<string, number>();
  trickleMs = 100;
  tokenRequests = 0;
  private server: http.Server;
  port = 0;

  constructor(readonly opts: FakeRegistryOptions = {}) {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Stores a manifest under its digest and, if given, a tag; returns its digest. */
  putManifest(repo: string, body: Buffer, type: string, tag?: string): string {
    const digest = sha(body);
    this.manifests.set(`${repo}@${digest}`, { body, type });
    if (tag) this.manifests.set(`${repo}:${tag}`, { body, type });
    return digest;
  }

  putBlob(body: Buffer): { digest: string; size: number } {
    const digest = sha(body);
    this.blobs.set(digest, body);
    return { digest, size: body.length };
  }

  private basicOk(header: string | undefined): boolean {
    const want = `Basic ${Buffer.from(`${this.opts.user}:${this.opts.password}`).toString('base64')}`;
    return header === want;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
    this.hits.push({ method: req.method ?? '', path: url.pathname, authorization: req.headers.authorization });
    if (this.opts.status) {
      res.writeHead(this.opts.status).end();
      return;
    }
    if (url.pathname === '/token') {
      this.tokenRequests++;
      if (this.opts.user && !this.basicOk(req.headers.authorization)) {
        res.writeHead(401).end();
        return;
      }
      const scope = url.searchParams.get('scope') ?? '';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: `tok:${url.searchParams.get('service')}:${scope}`, expires_in: 300 }));
      return;
    }
    if (url.pathname.startsWith('/storage/')) {
      const blob = this.blobs.get(url.pathname.slice('/storage/'.length));
      res.writeHead(blob ? 200 : 404).end(blob);
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const [, repo, kind, ref] = m as unknown as [string, string, string, string];
    const auth = this.opts.auth ?? 'none';
    if (auth === 'bearer' && req.headers.authorization !== `Bearer tok:fake:repository:${repo}:pull`) {
      const realm = `http://${req.headers.host}/token`;
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="${realm}",service="fake",scope="repository:${repo}:pull"`,
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    if (auth === 'basic' && !this.basicOk(req.headers.authorization)) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' }).end();
      return;
    }
    if (kind === 'manifests') {
      const found = this.manifests.get(ref.startsWith('sha256:') ? `${repo}@${ref}` : `${repo}:${ref}`);
      if (!found) {
        res.writeHead(404).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
        return;
      }
      res.writeHead(200, { 'content-type': found.type, 'docker-content-digest': sha(found.body) });
      res.end(found.body);
      return;
    }
    const blob = this.blobs.get(ref);
    if (!blob) {
      res.writeHead(404).end();
      return;
    }
    if (this.opts.redirectBlobsTo) {
      res.writeHead(307, { location: `${this.opts.redirectBlobsTo}/storage/${ref}` }).end();
      return;
    }
    const stall = this.stallAfter.get(ref);
    if (stall !== undefined) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length });
      res.write(blob.subarray(0, stall));
      return;
    }
    const pieces = this.trickle.get(ref);
    if (pieces !== undefined) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length });
      const size = Math.ceil(blob.length / pieces);
      let sent = 0;
      const next = (): void => {
        if (res.destroyed) return;
        res.write(blob.subarray(sent, sent + size));
        sent += size;
        if (sent >= blob.length) res.end();
        else setTimeout(next, this.trickleMs);
      };
      next();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(blob);
  }
}
