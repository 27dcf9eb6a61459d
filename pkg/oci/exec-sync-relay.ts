/**
 * ExecSync without conmon: the process runs under the streaming-exec helper (native/exec-relay.c, see
 * exec-stream.ts), which stays its parent and reaps it, and its stdout and stderr are our pipes, read into
 * memory. Compared with `conmon --exec` this starts no glib program, writes no log file (conmon's
 * k8s-file log, fsync'd when it exits) and reads none back: the same runtime processes (`<runtime> exec
 * --detach` and its init) are all that run besides the small helper.
 *
 * Timeouts and cancellation end the session as a streaming exec ends: the process and every descendant
 * are SIGKILLed and the call returns only once they are reaped, so nothing is left behind in the container.
 */
import type { Readable } from 'node:stream';
import { CancelledError, DeadlineExceededError, fromAbort, InternalError } from '../util/index.js';
import { checkExecSync, type ExecSyncOptions, type ExecSyncResult } from './exec.js';
import { execStream } from './exec-stream.js';
import type { OciRuntime } from './runtime.js';

/**
 * How long output is still read after the process has exited. What it wrote is already in the pipes; only
 * a background child that kept them open delays their end, and its later output is not the command's.
 */
const DRAIN_MS = 200;

/** Bytes of one output stream, up to `max`; the rest is read and dropped so the writer never blocks. */
function collect(stream: Readable, max: number): { ended: Promise<void>; bytes: () => Buffer } {
  const parts: Buffer[] = [];
  let size = 0;
  const ended = new Promise<void>((resolve) => {
    stream.on('data', (c: Buffer) => {
      const room = max - size;
      if (room <= 0) return;
      const part = c.length > room ? c.subarray(0, room) : c;
      parts.push(part);
      size += part.length;
    });
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
  return { ended, bytes: () => (parts.length === 1 ? parts[0]! : Buffer.concat(parts)) };
}

/**
 * Runs a process in container `id` to completion and returns its exit code and output (the contract of
 * {@link execSync}): DeadlineExceededError once `timeoutMs` has passed and the process tree is reaped,
 * InternalError with the runtime's message when the exec itself fails, the abort's error on `signal`.
 */
export async function execSyncRelay(runtime: OciRuntime, opts: ExecSyncOptions): Promise<ExecSyncResult> {
  const max = checkExecSync(opts);
  // One signal for the session: the caller's, or our timer. Either ends it by killing and reaping the tree.
  const ac = new AbortController();
  const timeout = new DeadlineExceededError(`exec in container "${opts.id}" timed out after ${opts.timeoutMs} ms`);
  const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => ac.abort(timeout), opts.timeoutMs);
  const caller = opts.signal;
  const onAbort = (): void => ac.abort(fromAbort(new CancelledError(`exec in container "${opts.id}" aborted`), caller));
  if (caller?.aborted) onAbort();
  else caller?.addEventListener('abort', onAbort, { once: true });
  try {
    const session = await execStream(runtime, {
      id: opts.id,
      process: { ...opts.process, terminal: false },
      stdin: false,
      scratchDir: opts.scratchDir,
      signal: ac.signal,
    });
    const stdout = collect(session.stdout, max);
    const stderr = collect(session.stderr as Readable, max);
    let exitCode: number;
    try {
      exitCode = await session.done;
    } catch (err) {
      await session.close();
      if (ac.signal.aborted) throw ac.signal.reason;
      throw err instanceof InternalError
        ? err
        : new InternalError(`exec in container "${opts.id}" failed`, { cause: err });
    }
    if (ac.signal.aborted) {
      // Killed by the timer or the caller: close() returns once the whole tree is reaped.
      await session.close();
      throw ac.signal.reason;
    }
    let drained: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([stdout.ended, stderr.ended]),
      new Promise<void>((resolve) => {
        drained = setTimeout(resolve, DRAIN_MS);
      }),
    ]);
    clearTimeout(drained);
    session.stdout.destroy();
    session.stderr?.destroy();
    return { exitCode, stdout: stdout.bytes(), stderr: stderr.bytes() };
  } finally {
    clearTimeout(timer);
    caller?.removeEventListener('abort', onAbort);
  }
}
