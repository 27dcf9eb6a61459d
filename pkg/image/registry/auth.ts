/**
 * Registry authentication: `WWW-Authenticate` challenges, Basic credentials, and the Bearer token flow of
 * the Docker token spec (GET realm?service&scope with Basic credentials, or POST with an OAuth2 refresh
 * token). Tokens are cached per realm, service, scope and credentials until shortly before they expire;
 * keying by credentials keeps a token fetched with one pull's secrets from serving another pull.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import { PermissionDeniedError, UnauthenticatedError, UnavailableError } from '../../util/index.js';
import { basicPair, type Credentials } from './credentials.js';
import { dumpBody, type HttpAgents, type HttpResponse, httpRequest, networkError } from './http.js';

/** A parsed authentication challenge. */
export interface Challenge {
  scheme: 'bearer' | 'basic';
  realm?: string;
  service?: string;
  scope?: string;
}

const MAX_TOKEN_RESPONSE = 1 << 20;
const DEFAULT_EXPIRY_S = 60;
const EXPIRY_MARGIN_MS = 10_000;

/**
 * Parses `WWW-Authenticate` values: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
 * Returns the Bearer challenge when both are offered, undefined when none is understood.
 */
export function parseChallenge(header: string | string[] | undefined): Challenge | undefined {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const found: Challenge[] = [];
  for (const value of values) {
    // Challenges are "Scheme params", params are k=v or k="quoted, with \"escapes\"" separated by commas.
    const re = /([A-Za-z][\w-]*)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,\s]*))?\s*,?\s*/g;
    let current: Challenge | undefined;
    for (let m = re.exec(value); m !== null && m[0].length > 0; m = re.exec(value)) {
      const key = m[1]!;
      const raw = m[2];
      if (raw === undefined) {
        const scheme = key.toLowerCase();
        current = scheme === 'bearer' || scheme === 'basic' ? { scheme } : undefined;
        if (current) found.push(current);
        continue;
      }
      if (!current) continue;
      const val = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
      const k = key.toLowerCase();
      if (k === 'realm' || k === 'service' || k === 'scope') current[k] = val;
    }
  }
  return found.find((c) => c.scheme === 'bearer') ?? found[0];
}

/** The `Authorization` value for Basic credentials, or undefined. */
export function basicAuthorization(c: Credentials | undefined): string | undefined {
  const pair = basicPair(c);
  if (!pair) return undefined;
  return `Basic ${Buffer.from(`${pair.username}:${pair.password}`).toString('base64')}`;
}

const tokenResponse = z.object({
  token: z.optional(z.string()),
  access_token: z.optional(z.string()),
  expires_in: z.optional(z.number().check(z.gt(0))),
});

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Fetches and caches bearer tokens. One instance per registry client. */
export class TokenCache {
  private readonly tokens = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly agents: HttpAgents,
    private readonly userAgent: string,
  ) {}

  /**
   * A bearer token for `scope` under `challenge` (which must carry a realm), fetched or cached. The
   * registry `host` names errors. 401/403 from the realm ⇒ Unauthenticated/PermissionDenied.
   */
  async token(
    host: string,
    challenge: Challenge,
    scope: string,
    creds: Credentials | undefined,
    signal?: AbortSignal,
  ): Promise<string> {
    if (creds?.registryToken) return creds.registryToken;
    const credKey = creds ? createHash('sha256').update(JSON.stringify(creds)).digest('hex') : '-';
    const key = [challenge.realm, challenge.service ?? '', scope, credKey].join('\0');
    const cached = this.tokens.get(key);
    if (cached) {
      const t = await cached.catch(() => undefined);
      if (t && t.expiresAt > Date.now()) return t.token;
      if (this.tokens.get(key) === cached) this.tokens.delete(key);
    }
    const pending = this.fetchToken(host, challenge, scope, creds, signal);
    this.tokens.set(key, pending);
    try {
      return (await pending).token;
    } catch (err) {
      if (this.tokens.get(key) === pending) this.tokens.delete(key);
      throw err;
    }
  }

  private async fetchToken(
    host: string,
    ch: Challenge,
    scope: string,
    creds: Credentials | undefined,
    signal?: AbortSignal,
  ): Promise<CachedToken> {
    let realm: URL;
    try {
      realm = new URL(ch.realm ?? '');
      if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new Error('not http(s)');
    } catch (err) {
      throw new UnavailableError(`registry "${host}" sent an invalid token realm "${ch.realm ?? ''}"`, { cause: err });
    }
    const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'application/json' };
    let method: 'GET' | 'POST' = 'GET';
    let body: string | undefined;
    if (creds?.identityToken) {
      method = 'POST';
      headers['content-type'] = 'application/x-www-form-urlencoded';
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: creds.identityToken,
        client_id: 'ucri',
      });
      if (ch.service) form.set('service', ch.service);
      if (scope) form.set('scope', scope);
      body = form.toString();
    } else {
      if (ch.service) realm.searchParams.set('service', ch.service);
      if (scope) realm.searchParams.set('scope', scope);
      const basic = basicAuthorization(creds);
      if (basic) headers.authorization = basic;
    }
    const started = Date.now();
    let res: HttpResponse;
    try {
      res = await httpRequest(realm, this.agents, { method, headers, body, signal });
    } catch (err) {
      throw networkError(realm.host, err, signal);
    }
    if (res.statusCode !== 200) {
      await dumpBody(res.body);
      const what = `token server "${realm.host}" of registry "${host}"`;
      if (res.statusCode === 401) throw new UnauthenticatedError(`${what} rejected the credentials (401)`);
      if (res.statusCode === 403) throw new PermissionDeniedError(`${what} denied access to "${scope}" (403)`);
      throw new UnavailableError(`${what} answered ${res.statusCode}`);
    }
    const text = await readLimited(res.body, MAX_TOKEN_RESPONSE, `token from "${realm.host}"`);
    let parsed: z.infer<typeof tokenResponse>;
    try {
      parsed = tokenResponse.parse(JSON.parse(text.toString('utf8')));
    } catch (err) {
      throw new UnavailableError(`token server "${realm.host}" sent an invalid response`, { cause: err });
    }
    const token = parsed.token || parsed.access_token;
    if (!token) throw new UnavailableError(`token server "${realm.host}" sent no token`);
    const lifetime = Math.max(parsed.expires_in ?? DEFAULT_EXPIRY_S, DEFAULT_EXPIRY_S) * 1000;
    return { token, expiresAt: started + lifetime - EXPIRY_MARGIN_MS };
  }
}

/** Reads a whole body, refusing more than `limit` bytes (manifests and tokens are small; a huge one is hostile). */
export async function readLimited(body: AsyncIterable<Buffer>, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new UnavailableError(`${what} exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
