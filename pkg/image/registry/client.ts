/**
 * A daemonless Docker Registry v2 / OCI distribution client over node:http (http.ts). Every request tries the domain's
 * mirrors in order and then the upstream; a mirror that fails (unreachable, 404, auth) is skipped. Content is
 * verified: manifests against the digest they were asked by (or their computed digest is returned), blobs
 * against their descriptor's digest and size while they stream.
 */
import { createHash } from 'node:crypto';
import { type Readable, pipeline } from 'node:stream';
import {
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  UcriError,
  UnauthenticatedError,
  UnavailableError,
  logger,
} from '../../util/index.js';
import { DigestMismatchError, DigestVerifier, parseDigest } from '../digest.js';
import type { RemoteBlob } from '../layer/remote.js';
import { MANIFEST_ACCEPT } from '../manifest.js';
import { formatReference, type ImageReference, manifestSelector } from '../reference.js';
import { basicAuthorization, type Challenge, readLimited, TokenCache, parseChallenge } from './auth.js';
import { dumpBody, getFollowingRedirects, HttpAgents, type HttpResponse, networkError } from './http.js';
import { type CredentialLookup, type Credentials, hasCredentials } from './credentials.js';
import { type Endpoint, endpointsFor, type MirrorConfig } from './endpoints.js';

const log = logger('image/registry');
const MAX_MANIFEST_BYTES = 4 << 20;

export interface RegistryOptions {
  /** Mirrors per registry domain, tried in order before the upstream. */
  mirrors?: MirrorConfig;
  /** Hosts (`host` or `host:port`) reached over plain http. Loopback hosts always are. */
  insecure?: readonly string[];
  /** Configured credentials per host (e.g. from a credentials file). */
  credentials?: CredentialLookup;
  /** Connection pools; the client's own by default (shared with a caller that wants to close them). */
  agents?: HttpAgents;
  userAgent?: string;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Credentials of this pull (CRI AuthConfig); sent only to the upstream registry, never to mirrors. */
  auth?: Credentials;
}

/** A manifest or index as fetched. */
export interface FetchedManifest {
  /** The digest of `bytes`: the one asked for, verified, or the computed one when fetched by tag. */
  digest: string;
  /** Content-Type of the response (parseManifest reconciles it with the document). */
  mediaType: string;
  bytes: Buffer;
  /** Base URL of the endpoint that answered (a mirror or the upstream). */
  endpoint: string;
}

interface Attempt {
  endpoint: Endpoint;
  res: HttpResponse;
}

/** Errors that are the registry's definitive answer, preferred over "unreachable" when reporting. */
function definitive(err: unknown): boolean {
  return err instanceof NotFoundError || err instanceof UnauthenticatedError || err instanceof PermissionDeniedError;
}

/** A new error of the same kind as `err` with a message that covers every endpoint tried. */
function sameKind(err: unknown, message: string, cause: unknown): Error {
  const kind = err instanceof UcriError ? err.kind : 'Unavailable';
  switch (kind) {
    case 'NotFound':
      return new NotFoundError(message, { cause });
    case 'Unauthenticated':
      return new UnauthenticatedError(message, { cause });
    case 'PermissionDenied':
      return new PermissionDeniedError(message, { cause });
    case 'Unavailable':
      return new UnavailableError(message, { cause });
    default:
      return err as Error;
  }
}

export class RegistryClient {
  private readonly tokens: TokenCache;
  private readonly challenges = new Map<string, Challenge>();
  private readonly mirrors: MirrorConfig;
  private readonly insecure: ReadonlySet<string>;
  private readonly userAgent: string;
  private readonly agents: HttpAgents;

  constructor(private readonly opts: RegistryOptions = {}) {
    this.agents = opts.agents ?? new HttpAgents();
    this.mirrors = opts.mirrors ?? {};
    this.insecure = new Set(opts.insecure ?? []);
    this.userAgent = opts.userAgent ?? 'ucri/0.1';
    this.tokens = new TokenCache(this.agents, this.userAgent);
    for (const domain of Object.keys(this.mirrors)) endpointsFor(domain, this.mirrors, this.insecure);
  }

  /** The endpoints a domain is served from, mirrors first (exposed for diagnostics and tests). */
  endpoints(domain: string): Endpoint[] {
    return endpointsFor(domain, this.mirrors, this.insecure);
  }

  /**
   * Fetches the manifest (or index) the reference names: by digest when it has one (verified), else by tag
   * (digest computed). NotFoundError when no endpoint has it, Unauthenticated/PermissionDenied when the
   * registry refuses, UnavailableError naming the host when it cannot be reached.
   */
  async resolve(ref: ImageReference, opts: RequestOptions = {}): Promise<FetchedManifest> {
    return this.fetchManifest(ref, manifestSelector(ref), opts);
  }

  /** Fetches a manifest of the reference's repository by tag or digest (e.g. a platform entry of an index). */
  async fetchManifest(ref: ImageReference, selector: string, opts: RequestOptions = {}): Promise<FetchedManifest> {
    const byDigest = selector.includes(':');
    if (byDigest) parseDigest(selector);
    const what = `${ref.domain}/${ref.path}${byDigest ? '@' : ':'}${selector}`;
    return this.tryEndpoints(ref, opts, `manifest "${what}"`, async (endpoint) => {
      const url = `${endpoint.base}/v2/${ref.path}/manifests/${selector}`;
      const { res } = await this.send(endpoint, ref, url, MANIFEST_ACCEPT, opts);
      const contentType = String(res.headers['content-type'] ?? '');
      const bytes = await readLimited(res.body, MAX_MANIFEST_BYTES, `manifest "${what}"`);
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (byDigest && digest !== selector) {
        throw new DigestMismatchError(what, { digest: selector }, { digest, size: bytes.length });
      }
      return { digest, mediaType: contentType, bytes, endpoint: endpoint.base };
    });
  }

  /**
   * Opens a blob as a stream that fails with DigestMismatchError unless it has exactly the descriptor's
   * digest and size. The caller must consume or destroy the stream. Redirects (to storage backends) are
   * followed without forwarding the registry's Authorization to another host.
   */
  async fetchBlob(
    ref: ImageReference,
    desc: { digest: string; size?: number },
    opts: RequestOptions = {},
  ): Promise<Readable> {
    parseDigest(desc.digest);
    const what = `blob "${desc.digest}" of "${ref.domain}/${ref.path}"`;
    return this.tryEndpoints(ref, opts, what, async (endpoint) => {
      const url = `${endpoint.base}/v2/${ref.path}/blobs/${desc.digest}`;
      const { res } = await this.send(endpoint, ref, url, '*/*', opts);
      const expected: { digest: string; size?: number } = { digest: desc.digest };
      if (desc.size !== undefined) expected.size = desc.size;
      const verifier = new DigestVerifier(`${ref.domain}/${ref.path}@${desc.digest}`, expected);
      // pipeline destroys both sides on failure, so a network error reaches the reader and a reader that
      // gives up releases the connection.
      pipeline(res.body, verifier, () => {});
      return verifier;
    });
  }

  /**
   * Where a blob would be fetched from first, with the Authorization the client would send there (from a
   * challenge already answered for the host; none when none was seen), for a fetcher in another thread.
   * That fetcher must fall back to `fetchBlob` on anything but a 200: only fetchBlob answers challenges and
   * tries the other endpoints.
   */
  async blobSource(
    ref: ImageReference,
    desc: { digest: string; size?: number },
    opts: RequestOptions = {},
  ): Promise<RemoteBlob> {
    parseDigest(desc.digest);
    const endpoint = this.endpoints(ref.domain)[0]!;
    const creds = this.credentialsFor(endpoint, ref, opts.auth);
    const authorization = await this.knownAuthorization(endpoint, `repository:${ref.path}:pull`, creds, opts.signal);
    return {
      url: `${endpoint.base}/v2/${ref.path}/blobs/${desc.digest}`,
      ...(authorization === undefined ? {} : { authorization }),
      userAgent: this.userAgent,
      digest: desc.digest,
      ...(desc.size === undefined ? {} : { size: desc.size }),
      what: `${ref.domain}/${ref.path}@${desc.digest}`,
    };
  }

  /** Reads a small blob (an image config) whole, verified; refuses more than `limit` bytes. */
  async fetchBlobBytes(
    ref: ImageReference,
    desc: { digest: string; size: number },
    opts: RequestOptions = {},
    limit = MAX_MANIFEST_BYTES,
  ): Promise<Buffer> {
    if (desc.size > limit) throw new InvalidArgumentError(`blob "${desc.digest}" is too large (${desc.size} bytes)`);
    return readLimited(await this.fetchBlob(ref, desc, opts), limit, `blob "${desc.digest}"`);
  }

  private async tryEndpoints<T>(
    ref: ImageReference,
    opts: RequestOptions,
    what: string,
    fn: (e: Endpoint) => Promise<T>,
  ): Promise<T> {
    const errors: unknown[] = [];
    for (const endpoint of this.endpoints(ref.domain)) {
      try {
        return await fn(endpoint);
      } catch (err) {
        if (opts.signal?.aborted) throw networkError(endpoint.host, err, opts.signal);
        log.debug({ endpoint: endpoint.base, err }, `${what}: endpoint failed`);
        errors.push(err);
      }
    }
    if (errors.length === 1) throw errors[0];
    const pick = errors.find(definitive) ?? errors[errors.length - 1];
    const summary = errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ');
    const message = `${formatReference(ref)}: ${summary}`;
    throw sameKind(pick, message, new AggregateError(errors, `all endpoints failed for ${what}`));
  }

  /**
   * GETs `url` with authentication (answering one 401 challenge) and redirects; returns a 200 response or
   * throws the mapped error after releasing the body.
   */
  private async send(
    endpoint: Endpoint,
    ref: ImageReference,
    url: string,
    accept: string,
    opts: RequestOptions,
  ): Promise<Attempt> {
    const creds = this.credentialsFor(endpoint, ref, opts.auth);
    const scope = `repository:${ref.path}:pull`;
    let authorization = await this.knownAuthorization(endpoint, scope, creds, opts.signal);
    let res = await this.get(endpoint, url, accept, authorization, opts.signal);
    if (res.statusCode === 401) {
      const challenge = parseChallenge(res.headers['www-authenticate']);
      await dumpBody(res.body);
      if (challenge) {
        this.challenges.set(endpoint.host, challenge);
        authorization = await this.authorizationFor(endpoint, challenge, challenge.scope ?? scope, creds, opts.signal);
        if (authorization !== undefined) res = await this.get(endpoint, url, accept, authorization, opts.signal);
      }
    }
    if (res.statusCode === 200) return { endpoint, res };
    await dumpBody(res.body);
    const target = `"${ref.domain}/${ref.path}" at "${endpoint.host}"`;
    switch (res.statusCode) {
      case 401:
        throw new UnauthenticatedError(`registry refused ${target}: authentication required (401)`);
      case 403:
        throw new PermissionDeniedError(`registry denied access to ${target} (403)`);
      case 404:
        throw new NotFoundError(`${url.includes('/manifests/') ? 'manifest' : 'blob'} not found in ${target}`);
      default:
        throw new UnavailableError(`registry answered ${res.statusCode} for ${target}`);
    }
  }

  private credentialsFor(
    endpoint: Endpoint,
    ref: ImageReference,
    auth: Credentials | undefined,
  ): Credentials | undefined {
    if (!endpoint.mirror && hasCredentials(auth)) return auth;
    const configured = this.opts.credentials;
    if (!configured) return undefined;
    return configured(endpoint.host) ?? (endpoint.mirror ? undefined : configured(ref.domain));
  }

  /** Authorization for a host whose challenge was seen before, so most requests skip the 401 round trip. */
  private async knownAuthorization(
    endpoint: Endpoint,
    scope: string,
    creds: Credentials | undefined,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const challenge = this.challenges.get(endpoint.host);
    if (!challenge) return undefined;
    return this.authorizationFor(endpoint, challenge, scope, creds, signal);
  }

  private async authorizationFor(
    endpoint: Endpoint,
    ch: Challenge,
    scope: string,
    creds: Credentials | undefined,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    if (ch.scheme === 'basic') return basicAuthorization(creds);
    if (!ch.realm) return undefined;
    const token = await this.tokens.token(endpoint.host, ch, scope, creds, signal);
    return `Bearer ${token}`;
  }

  /** One GET, following redirects; Authorization only goes to the endpoint's own origin. */
  private get(
    endpoint: Endpoint,
    url: string,
    accept: string,
    authorization: string | undefined,
    signal?: AbortSignal,
  ): Promise<HttpResponse> {
    return getFollowingRedirects(new URL(url), this.agents, {
      accept,
      userAgent: this.userAgent,
      authorization,
      host: endpoint.host,
      signal,
    });
  }
}
