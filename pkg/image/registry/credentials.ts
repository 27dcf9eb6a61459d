/**
 * Registry credentials: the CRI `AuthConfig` of a pull, or a Docker-style credentials file
 * (`{"auths": {"host": {"auth": base64(user:pass)} }}`, as written by `docker login` / kubelet's config).
 */
import { promises as fs } from 'node:fs';
import * as z from 'zod/mini';
import { InvalidArgumentError } from '../../util/index.js';

/** Credentials for one registry, mirroring CRI `AuthConfig`. */
export interface Credentials {
  username?: string;
  password?: string;
  /** base64 of `username:password`; used when username/password are empty. */
  auth?: string;
  /** OAuth2 refresh token, exchanged at the token realm. */
  identityToken?: string;
  /** A bearer token to send as is. */
  registryToken?: string;
}

/** Finds configured credentials for a registry host (`host[:port]`, `docker.io` for Docker Hub). */
export type CredentialLookup = (host: string) => Credentials | undefined;

/** Username and password of some credentials, decoding `auth` when needed; undefined when there are none. */
export function basicPair(c: Credentials | undefined): { username: string; password: string } | undefined {
  if (!c) return undefined;
  if (c.username) return { username: c.username, password: c.password ?? '' };
  if (c.auth) {
    const text = Buffer.from(c.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon > 0) return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  return undefined;
}

/** True when the credentials carry anything usable. */
export function hasCredentials(c: Credentials | undefined): c is Credentials {
  return !!c && (basicPair(c) !== undefined || !!c.identityToken || !!c.registryToken);
}

const fileSchema = z.object({
  auths: z._default(
    z.record(
      z.string(),
      z.object({
        auth: z.optional(z.string()),
        username: z.optional(z.string()),
        password: z.optional(z.string()),
        identitytoken: z.optional(z.string()),
        registrytoken: z.optional(z.string()),
      }),
    ),
    {},
  ),
});

/** `https://index.docker.io/v1/` → `docker.io`; `host:5000/` → `host:5000`. */
function keyHost(key: string): string {
  const host = key
    .replace(/^[a-z]+:\/\//i, '')
    .split('/')[0]!
    .toLowerCase();
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}

/** Builds a lookup from the parsed JSON of a credentials file; InvalidArgumentError when malformed. */
export function credentialsFromJson(json: unknown, source = 'credentials file'): CredentialLookup {
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) throw new InvalidArgumentError(`invalid ${source}`, { cause: parsed.error });
  const table = new Map<string, Credentials>();
  for (const [key, e] of Object.entries(parsed.data.auths)) {
    const c: Credentials = {};
    if (e.username !== undefined) c.username = e.username;
    if (e.password !== undefined) c.password = e.password;
    if (e.auth !== undefined) c.auth = e.auth;
    if (e.identitytoken !== undefined) c.identityToken = e.identitytoken;
    if (e.registrytoken !== undefined) c.registryToken = e.registrytoken;
    table.set(keyHost(key), c);
  }
  return (host) => table.get(keyHost(host)) ?? (host === 'registry-1.docker.io' ? table.get('docker.io') : undefined);
}

/** Reads a credentials file; a missing file yields a lookup that finds nothing. */
export async function loadCredentialsFile(file: string): Promise<CredentialLookup> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return () => undefined;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`credentials file "${file}" is not valid JSON`, { cause: err });
  }
  return credentialsFromJson(json, `credentials file "${file}"`);
}
