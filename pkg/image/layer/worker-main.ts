/**
 * The layer worker's thread (started by worker.ts): per job, GET the blob, verify its digest and size while
 * it streams, decompress, hash the tar against the diff_id and apply it with applyLayer: the same code and
 * the same guarantees as on the main thread, with every buffer of the pull in this isolate's heap, so the
 * daemon's heap is not collected for them and the work runs beside the daemon's own thread.
 * A job ends with exactly one "done" message (result, error or fallback) sent only once nothing of it runs
 * any more; "abort" makes its applyLayer fail as a cancelled request would.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { UcriError } from '../../util/index.js';
import { DigestMismatchError, DigestVerifier } from '../digest.js';
import { dumpBody, getFollowingRedirects, HttpAgents, type HttpResponse } from '../registry/http.js';
import { applyLayer, type LayerFormat } from './apply.js';
import type { RemoteBlob } from './remote.js';
import type { SerializedError, ToMain, ToWorker } from './worker-protocol.js';

const PROGRESS_STEP = 256 * 1024;
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

class Counter extends Transform {
  private pending = 0;
  private sent = Date.now();
  constructor(private readonly onBytes: (n: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending += chunk.length;
    // Coalesced (a message per chunk would cost the main thread more than it saves), yet at least every
    // PROGRESS_MS of a slow download, which the pull's progress watchdog must see moving.
    const now = Date.now();
    if (this.pending >= PROGRESS_STEP || now - this.sent >= PROGRESS_MS) {
      this.onBytes(this.pending);
      this.pending = 0;
      this.sent = now;
    }
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    if (this.pending > 0) this.onBytes(this.pending);
    this.pending = 0;
    cb();
  }
}

async function run(
  id: number,
  blob: RemoteBlob,
  targetDir: string,
  format: LayerFormat,
  diffId: string | undefined,
  signal: AbortSignal,
): Promise<ToMain> {
  const res = await get(blob, signal);
  if (!res) return { type: 'done', id, fallback: true };
  const expected: { digest: string; size?: number } = { digest: blob.digest };
  if (blob.size !== undefined) expected.size = blob.size;
  const counter = new Counter((n) => send({ type: 'bytes', id, n }));
  const verifier = new DigestVerifier(blob.what, expected);
  pipeline(res.body, counter, verifier, () => {});
  const r = await applyLayer(verifier, targetDir, { format, signal, ...(diffId === undefined ? {} : { diffId }) });
  return { type: 'done', id, result: r };
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
