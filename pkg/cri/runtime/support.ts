/**
 * Small helpers the runtime verbs share: fresh ids, request fingerprints, idempotent creates with their
 * rollback, and waiting for a promise no longer than a request's signal allows.
 */
import { createHash, randomBytes } from 'node:crypto';
import { AlreadyExistsError, logger, Rollback, untilAborted } from '../../util/index.js';
import type { NameIndex } from '../store/name-index.js';

const log = logger('cri/runtime');

/** How long one rollback step may take: it runs under this deadline, never the request's (STYLE 4). */
export const ROLLBACK_MS = 120_000;
/**
 * How long a create may go on after its client gave up. The work is not tied to the request, so that
 * kubelet's retry after a client-side timeout finds it finished (or still going) and gets the same id.
 */
export const CREATE_MS = 240_000;

/** A new sandbox or container id: 64 lowercase hex digits (256 random bits). */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

/**
 * A stable fingerprint of a request message: equal requests (a retry) give equal fingerprints. Map keys are
 * sorted so the order in which a client encoded them does not matter.
 */
export function fingerprint(msg: unknown): string {
  const canon = (v: unknown): unknown => {
    if (typeof v === 'bigint') return `${v}n`;
    if (Buffer.isBuffer(v)) return `b64:${v.toString('base64')}`;
    if (Array.isArray(v)) return v.map(canon);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(
        Object.keys(o)
          .sort()
          .map((k) => [k, canon(o[k])]),
      );
    }
    return v;
  };
  return createHash('sha256')
    .update(JSON.stringify(canon(msg)) ?? '')
    .digest('hex');
}

/**
 * A name-reserving create (RunPodSandbox, CreateContainer), idempotent per request:
 * - while another attempt for `name` is in flight, wait for it;
 * - a retry of a finished attempt (same fingerprint, `existing` still finds its object) returns that result;
 * - a different request holding the name gets ALREADY_EXISTS;
 * - otherwise the name is claimed for a fresh id, in the same tick as the check (no await in between), and
 *   `body` runs under its own deadline (CREATE_MS), detached from the client's, so a retry after a client
 *   timeout finds the work finished instead of "name is reserved". On success the name is settled; on failure
 *   every undo step `body` registered, and the name, are rolled back.
 * The returned promise follows the client's signal; the work goes on regardless.
 */
export async function createOnce<T>(opts: {
  names: NameIndex;
  name: string;
  fingerprint: string;
  what: string;
  signal: AbortSignal;
  existing: (id: string) => T | undefined;
  body: (id: string, signal: AbortSignal, undo: Rollback) => Promise<T>;
}): Promise<T> {
  const { names, name, fingerprint: fp } = opts;
  for (;;) {
    const held = names.get(name);
    if (held?.pending) {
      await untilAborted(held.pending, opts.signal);
      continue;
    }
    if (!held) break;
    const prior = held.fingerprint === fp ? opts.existing(held.id) : undefined;
    if (prior !== undefined) return prior;
    throw new AlreadyExistsError(`${opts.what} name "${name}" is reserved for "${held.id}"`);
  }
  const id = newId();
  const finish = names.claim(name, id, fp);
  const work = (async (): Promise<T> => {
    const undo = new Rollback(log, ROLLBACK_MS);
    undo.add('release name', () => names.release(name, id));
    try {
      const out = await opts.body(id, AbortSignal.timeout(CREATE_MS), undo);
      undo.commit();
      names.settle(name, id);
      return out;
    } catch (err) {
      await undo.run({ id, name });
      throw err;
    } finally {
      finish();
    }
  })();
  work.catch(() => undefined);
  return untilAborted(work, opts.signal);
}
