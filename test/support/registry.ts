/**
 * Test helper: a real Distribution registry on 127.0.0.1 (Debian docker-registry), one per caller.
 *
 *   const reg = await startRegistry();                 // anonymous
 *   const sec = await startRegistry({ auth: true });   // basic auth, random password in sec.auth
 *   after(() => Promise.all([reg.stop(), sec.stop()]));
 */
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import {
  type RegistryOptions,
  type RegistryUser,
  type RunningRegistry,
  startRegistry as startHackRegistry,
} from '../../hack/registry/index.js';

export type { RegistryUser, RunningRegistry };

/** Options of the test registry. */
export interface TestRegistryOptions extends Omit<RegistryOptions, 'auth'> {
  /** `true`: one user `ucri` with a random password; or explicit users. Default: no auth. */
  auth?: true | RegistryUser | RegistryUser[];
}

/** Starts a registry; the caller stops it (`after(() => reg.stop())`). */
export async function startRegistry(opts: TestRegistryOptions = {}): Promise<RunningRegistry> {
  const auth = opts.auth === true ? { username: 'ucri', password: randomBytes(12).toString('hex') } : opts.auth;
  return startHackRegistry({ ...opts, auth });
}

/** A registry answer, body read as text. */
export interface RegistryReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Calls the registry API directly (tests check what the registry really holds). `auth` defaults to the
 * registry's own user; pass `null` for an anonymous call.
 */
export async function registryRequest(
  reg: Pick<RunningRegistry, 'url' | 'auth'>,
  path: string,
  opts: { method?: 'GET' | 'HEAD' | 'DELETE'; accept?: string[]; auth?: RegistryUser | null } = {},
): Promise<RegistryReply> {
  const headers: Record<string, string> = {};
  if (opts.accept) headers.accept = opts.accept.join(', ');
  const user = opts.auth === undefined ? reg.auth : opts.auth;
  if (user) headers.authorization = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
  const res = await request(`${reg.url}${path}`, { method: opts.method ?? 'GET', headers });
  const body = opts.method === 'HEAD' ? '' : await res.body.text();
  if (opts.method === 'HEAD') await res.body.dump();
  return { status: res.statusCode, headers: res.headers, body };
}
