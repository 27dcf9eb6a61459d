/**
 * The configuration file of Debian's docker-registry (Distribution 2.8). It is written as JSON, which the
 * registry's YAML parser reads as YAML. Nothing in it reaches beyond 127.0.0.1: no proxy (pull-through) remote,
 * no notifications endpoints, no bugsnag/newrelic reporting, no redirects (the filesystem driver has none).
 */
import bcrypt from 'bcryptjs';
import { InvalidArgumentError } from '../../pkg/util/index.js';

/** A user of the registry's htpasswd auth. */
export interface RegistryUser {
  username: string;
  password: string;
}

/** Inputs of the configuration file. */
export interface RegistryConfigInput {
  port: number;
  storageDir: string;
  /** Path of the htpasswd file; basic auth is on when set. */
  htpasswdPath?: string;
  /** Registry log level (default `error`: quiet unless something breaks). */
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  /** Secret that signs upload state (random per run). */
  httpSecret: string;
  /** Sent back in the `X-Ucri-Registry` header of every answer, so a readiness probe knows who answered. */
  instanceId: string;
}

/** The header that carries `instanceId`. */
export const INSTANCE_HEADER = 'X-Ucri-Registry';

/** The configuration document (serialise with JSON.stringify). */
export function registryConfig(input: RegistryConfigInput): Record<string, unknown> {
  const config: Record<string, unknown> = {
    version: '0.1',
    log: { level: input.logLevel ?? 'error', formatter: 'text', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: input.storageDir },
      delete: { enabled: true },
      cache: { blobdescriptor: 'inmemory' },
      // The purger deletes stale uploads on its own schedule; a test registry lives minutes, so keep it still.
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: {
      addr: `127.0.0.1:${input.port}`,
      secret: input.httpSecret,
      draintimeout: '1s',
      headers: { 'X-Content-Type-Options': ['nosniff'], [INSTANCE_HEADER]: [input.instanceId] },
    },
  };
  if (input.htpasswdPath) config.auth = { htpasswd: { realm: 'ucri-test-registry', path: input.htpasswdPath } };
  return config;
}

/**
 * One htpasswd line per user, bcrypt-hashed with bcryptjs (the only format Distribution accepts). Cost 4, the
 * minimum: the registry checks the hash on every request, and this registry only ever guards test data.
 */
export function htpasswdFile(users: readonly RegistryUser[]): string {
  const lines = users.map((u) => {
    if (u.username === '' || /[:\s]/.test(u.username)) {
      throw new InvalidArgumentError(`invalid registry username "${u.username}"`);
    }
    if (u.password === '') throw new InvalidArgumentError(`empty password for registry user "${u.username}"`);
    return `${u.username}:${bcrypt.hashSync(u.password, 4)}`;
  });
  return `${lines.join('\n')}\n`;
}
