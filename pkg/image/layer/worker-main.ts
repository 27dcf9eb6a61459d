/**
 * The layer worker's thread (started by worker.ts): per job, GET the blob, verify its digest and size while
 * it streams, decompress, hash the tar against the diff_id and apply it with applyLayer: the same code and
 * the same guarantees as on the main thread, with every buffer of the pull in this isolate's heap, so the
 * daemon's heap is not collected for them and the work runs beside the daemon's own thread.
 * A job ends with exactly one "done" message (result, error or fallback) sent only once nothing of it runs
 * any more; "abort" makes its applyLayer fail as a cancelled request would.
 */
import { pipeline, type Readable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { UcriError } from '../../util/index.js';
import { DigestMismatchError, DigestVerifier } from '../digest.js';
import { dumpBody, getFollowingRedirects, HttpAgents, type HttpResponse } from '../registry/http.js';
import { applyLayer, type LayerFormat } from './apply.js';
import type { RemoteBlob } from './remote.js';
import type { LayerTiming, SerializedError, ToMain, ToWorker } from './worker-protocol.js';

const PROGRESS_STEP = 1024 * 1024;
const PROGRESS_MS = 100;
const agents = new HttpAgents();
const jobs = new Map<number, AbortController>();
const port = parentPort!;

function send(msg: ToMain): void {
  port.postMessage(msg);
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof DigestMismatchError) {
    return { kind: 'DigestMismatch', message: err.message, what: err.what, expected: err.expected, actual: err.actual };
  }
  if (err instanceof UcriError) return { kind: err.kind, message: err.message };
  const e = err as NodeJS.ErrnoException | undefined;
  return { kind: 'Error', message: e?.message ?? String(err), ...(e?.code ? { code: e.code } : {}) };
}

/** GET with redirects; undefined when the answer is not a 200 or the request failed (the caller falls back). */
async function get(blob: RemoteBlob, signal: AbortSignal): Promise<HttpResponse | undefined> {
  const url = new URL(blob.url);
  let res: HttpResponse;
  try {
    res = await getFollowingRedirects(url, agents, {
      accept: '*/*',
      userAgent: blob.userAgent,
      authorization: blob.authorization,
      host: url.host,
      signal,
    });
  } catch (err) {
    if (signal.aborted) throw err;
    return undefined;
  }
  if (res.statusCode === 200) return res;
  await dumpBody(res.body);
  return undefined;
}

/**
 * Reports the bytes of `body` to the daemon's thread, coalesced: a message per chunk (64 KiB) would cost both
 * threads more than it tells, yet a slow download must still be seen moving by the pull's progress watchdog, so
 * at least every PROGRESS_MS while bytes arrive. Counted from a 'data' listener beside the pipe, not a stream of
 * its own in the pipeline (one hop less per chunk).
 */
function countBytes(body: Readable, onBytes: (n: number) => void, onFirst: () => void): void {
  let pending = 0;
  let sent = Date.now();
  body.once('data', onFirst);
  body.on('data', (chunk: Buffer) => {
    pending += chunk.length;
    const now = Date.now();
    if (pending >= PROGRESS_STEP || now - sent >= PROGRESS_MS) {
      onBytes(pending);
      pending = 0;
      sent = now;
    }
  });
  body.on('end', () => {
    if (pending > 0) onBytes(pending);
    pending = 0;
  });
}

async function run(
  id: number,
  blob: RemoteBlob,
  targetDir: string,
  format: LayerFormat,
  diffId: string | undefined,
  signal: AbortSignal,
): Promise<ToMain> {
  const t0 = performance.now();
  const at = (): number => Math.round(performance.now() - t0);
  const timing: LayerTiming = { headers: 0, firstByte: 0, downloaded: 0, applied: 0 };
  const res = await get(blob, signal);
  if (!res) return { type: 'done', id, fallback: true };
  timing.headers = at();
  const expected: { digest: string; size?: number } = { digest: blob.digest };
  if (blob.size !== undefined) expected.size = blob.size;
  const verifier = new DigestVerifier(blob.what, expected);
  verifier.once('end', () => {
    timing.downloaded = at();
  });
  pipeline(res.body, verifier, () => {});
  // After pipeline() has attached its own reader: a 'data' listener alone would start the flow without it.
  countBytes(
    res.body,
    (n) => send({ type: 'bytes', id, n }),
    () => {
      timing.firstByte = at();
    },
  );
  const r = await applyLayer(verifier, targetDir, { format, signal, ...(diffId === undefined ? {} : { diffId }) });
  timing.applied = at();
  return { type: 'done', id, result: r, timing };
}

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'abort') {
    jobs.get(msg.id)?.abort(msg.reason);
    return;
  }
  const ac = new AbortController();
  jobs.set(msg.id, ac);
  run(msg.id, msg.blob, msg.targetDir, msg.format, msg.diffId, ac.signal)
    .catch((err: unknown): ToMain => ({ type: 'done', id: msg.id, error: serializeError(err) }))
    .then((reply) => {
      jobs.delete(msg.id);
      send(reply);
    });
});

send({ type: 'ready', id: 0 });
