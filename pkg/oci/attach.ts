/**
 * Attaching to a container's own stdio through conmon's attach socket (created with `--full-attach` in
 * the bundle). The socket is SOCK_SEQPACKET, which Node cannot open, so native/attach-relay connects and
 * hands each packet over with its length. conmon prefixes every packet with the stream it came from
 * (2 stdout, 3 stderr) and copies the container's output to every attached client; what a client writes
 * goes to the container's stdin when it was created with one.
 */
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { DEFAULT_PATH, requireNativeHelper, start, waitChild } from '../sys/index.js';
import { UnavailableError, logger } from '../util/index.js';

const log = logger('oci/attach');

const STDOUT = 2;
const STDERR = 3;

export interface AttachOptions {
  id: string;
  /** The attach socket (Conmon.attachSocket(bundle)). */
  socket: string;
  /** Forward our input to the container's stdin. */
  stdin: boolean;
  /** Resizes the container's terminal (conmon's control fifo). */
  resize: (height: number, width: number) => Promise<void>;
  signal?: AbortSignal;
}

export interface AttachSession {
  stdin: Writable | undefined;
  stdout: Readable;
  stderr: Readable;
  resize(height: number, width: number): void;
  /** Resolves when conmon closed the socket (the container exited) or the session was closed. */
  done: Promise<void>;
  close(): Promise<void>;
}

/** Splits the relay's `[len16][stream][data]` records onto stdout and stderr. */
export function demuxAttach(from: Readable, stdout: PassThrough, stderr: PassThrough): void {
  let buf: Buffer = Buffer.alloc(0);
  from.on('data', (c: Buffer) => {
    buf = buf.length === 0 ? c : Buffer.concat([buf, c]);
    let pos = 0;
    while (buf.length - pos >= 2) {
      const len = buf.readUInt16BE(pos);
      if (buf.length - pos - 2 < len) break;
      const kind = buf[pos + 2];
      const data = buf.subarray(pos + 3, pos + 2 + len);
      if (kind === STDOUT) stdout.write(data);
      else if (kind === STDERR) stderr.write(data);
      pos += 2 + len;
    }
    buf = buf.subarray(pos);
  });
  from.on('end', () => {
    stdout.end();
    stderr.end();
  });
  from.on('error', () => {});
}

export async function attachSession(opts: AttachOptions): Promise<AttachSession> {
  const child = await start(requireNativeHelper('attach-relay'), [opts.socket], {
    env: { PATH: DEFAULT_PATH },
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let message = '';
  const stderrPipe = child.stderr as Readable;
  stderrPipe.on('data', (c: Buffer) => {
    message += c.toString('utf8');
  });
  await new Promise<void>((resolve) => stderrPipe.once('close', () => resolve()));
  if (message !== '') {
    child.kill('SIGKILL');
    throw new UnavailableError(`attach to container "${opts.id}" failed: ${message.trim()}`);
  }
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  demuxAttach(child.stdout as Readable, stdout, stderr);
  child.stdin?.on('error', () => {});
  const exited = waitChild(child);
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      // End of our stdin first, so conmon sees this client leave (stdin_once closes the container's stdin).
      child.stdin?.end();
      child.kill('SIGTERM');
    }
    await exited;
  };
  opts.signal?.addEventListener('abort', () => void close(), { once: true });
  return {
    stdin: child.stdin ?? undefined,
    stdout,
    stderr,
    resize(height, width) {
      opts.resize(height, width).catch((err: unknown) => log.debug({ err, id: opts.id }, 'resize failed'));
    },
    done: exited.then(() => undefined),
    close,
  };
}
