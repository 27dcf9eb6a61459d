/**
 * One exec or attach session between a client's channels (SPDY streams or WebSocket channels, the
 * transports adapt) and the containerizer's StreamSession: stdin in with half-close, stdout and stderr
 * out, terminal resizes, and the outcome reported last, after the output has been delivered. When the
 * client goes away the session is closed, which for exec kills and reaps the process tree.
 */
import type { Readable, Writable } from 'node:stream';
import type { StreamSession } from '../../containerizer/index.js';
import { logger } from '../../util/index.js';
import type { StreamRequest } from './requests.js';

const log = logger('cri/streaming');

/** How long output may still flow after the process exited (descendants holding the pipes). */
const OUTPUT_GRACE_MS = 2000;

export type Outcome = { exitCode: number } | { error: string };

/** The client's side, as a transport presents it. */
export interface Channels {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  /** JSON `{"Width":w,"Height":h}` objects, one after another. */
  resize?: Readable;
  /** Fires when the client has gone (connection closed, idle timeout). */
  gone: AbortSignal;
  /** Reports the outcome and ends the connection. */
  finish(outcome: Outcome): Promise<void>;
}

/** The v4 Status object remotecommand clients decode from the error channel. */
export function statusJson(outcome: Outcome): string {
  if ('error' in outcome) {
    return JSON.stringify({ metadata: {}, status: 'Failure', message: outcome.error, reason: 'InternalError' });
  }
  if (outcome.exitCode === 0) return JSON.stringify({ metadata: {}, status: 'Success' });
  return JSON.stringify({
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: exit code ${outcome.exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(outcome.exitCode) }] },
  });
}

/** The plain-text error of the pre-v4 protocols (empty: success). */
export function statusText(outcome: Outcome): string {
  if ('error' in outcome) return outcome.error;
  return outcome.exitCode === 0 ? '' : `command terminated with non-zero exit code: exit code ${outcome.exitCode}`;
}

/** Calls `fn` with each terminal size decoded from a stream of JSON objects. */
export function readResizes(r: Readable, fn: (width: number, height: number) => void): void {
  let buf = '';
  r.on('data', (c: Buffer) => {
    buf += c.toString('utf8');
    // Objects are flat, so each ends at the first closing brace.
    for (let end = buf.indexOf('}'); end >= 0; end = buf.indexOf('}')) {
      const text = buf.slice(0, end + 1);
      buf = buf.slice(end + 1);
      try {
        const v = JSON.parse(text.slice(text.indexOf('{'))) as { Width?: unknown; Height?: unknown };
        if (typeof v.Width === 'number' && typeof v.Height === 'number') fn(v.Width, v.Height);
      } catch {
        // a malformed size is ignored
      }
    }
    if (buf.length > 4096) buf = '';
  });
  r.on('error', () => {});
}

function ended(r: Readable | undefined): Promise<void> {
  if (!r || r.readableEnded || r.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    r.once('end', resolve);
    r.once('close', resolve);
  });
}

/** Copies `from` into `to` without ending `to` (the transport ends it with the outcome). */
function copy(from: Readable | undefined, to: Writable | undefined): Promise<void> {
  if (!from) return Promise.resolve();
  if (!to) {
    from.resume();
    return ended(from);
  }
  to.on('error', () => {});
  from.pipe(to, { end: false });
  return ended(from);
}

/** Runs the session of an exec or attach request until it ends or the client goes. */
export async function runRemoteCommand(
  req: Extract<StreamRequest, { kind: 'exec' | 'attach' }>,
  ch: Channels,
): Promise<void> {
  const controller = new AbortController();
  const onGone = (): void => controller.abort();
  ch.gone.addEventListener('abort', onGone, { once: true });
  const opts = { tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr && !req.tty };
  let session: StreamSession;
  try {
    session =
      req.kind === 'exec'
        ? await req.containerizer.exec(req.containerId, req.cmd, opts, controller.signal)
        : await req.containerizer.attach(req.containerId, opts, controller.signal);
  } catch (err) {
    log.debug({ err, id: req.containerId }, `${req.kind} failed to start`);
    await ch.finish({ error: (err as Error).message });
    return;
  }
  try {
    if (ch.stdin) {
      ch.stdin.on('error', () => {});
      if (session.stdin) {
        session.stdin.on('error', () => {});
        ch.stdin.pipe(session.stdin);
        // A reset stream (the client gave up on stdin) closes stdin as an orderly end would.
        ch.stdin.once('close', () => session.stdin?.end());
      } else ch.stdin.resume();
    }
    if (ch.resize) readResizes(ch.resize, (width, height) => session.resize({ width, height }));
    const output = Promise.all([copy(session.stdout, ch.stdout), copy(session.stderr, ch.stderr)]);
    const gone = new Promise<'gone'>((resolve) => {
      if (controller.signal.aborted) resolve('gone');
      controller.signal.addEventListener('abort', () => resolve('gone'), { once: true });
    });
    const result = await Promise.race([session.done, gone]);
    if (result === 'gone') return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.race([output, gone]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, OUTPUT_GRACE_MS);
      }),
    ]);
    clearTimeout(timer);
    if (controller.signal.aborted) return;
    await ch.finish(req.kind === 'attach' ? { exitCode: 0 } : { exitCode: result.exitCode ?? 0 });
  } catch (err) {
    if (!controller.signal.aborted) await ch.finish({ error: (err as Error).message });
  } finally {
    ch.gone.removeEventListener('abort', onGone);
    await session.close().catch((err: unknown) => log.warn({ err, id: req.containerId }, 'closing a session'));
  }
}
