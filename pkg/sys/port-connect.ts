/**
 * TCP connections to a port on the loopback of a network namespace, for port-forwarding: through
 * native/netns-connect, which enters the namespace and relays (Node cannot setns), or directly on the
 * host's loopback when there is no namespace (host-network pods).
 */
import net from 'node:net';
import { Duplex, type Readable, type Writable } from 'node:stream';
import { UnavailableError } from '../util/index.js';
import { requireNativeHelper } from './native.js';
import { type Child, DEFAULT_PATH, start } from './spawn.js';

function hostConnect(port: number, signal: AbortSignal): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, signal });
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      reject(new UnavailableError(`cannot connect to port ${port} on the host: ${err.code ?? err.message}`));
    });
  });
}

/**
 * The helper's stdio as one Duplex; destroying it ends the helper. Hand-made rather than Duplex.from:
 * that one can destroy itself between the end of the helper's stdout and the 'end' event, so a target that
 * closed at once never told its end and the forwarded pair hung. Exit status 3 (the target reset the
 * connection) becomes ECONNRESET, as a host socket reports it, so the pair is reset rather than ended.
 */
class HelperDuplex extends Duplex {
  private readonly stdout: Readable;
  private readonly stdin: Writable;

  constructor(private readonly child: Child) {
    super({ allowHalfOpen: true });
    this.stdout = child.stdout as Readable;
    this.stdin = child.stdin as Writable;
    this.stdout.on('data', (c: Buffer) => {
      if (!this.push(c)) this.stdout.pause();
    });
    // The helper may be gone already (the target closed at once): its output then ended before it was read.
    if (this.stdout.readableEnded) this.push(null);
    else this.stdout.once('end', () => this.push(null));
    this.stdout.on('error', (err) => this.destroy(err));
    this.stdin.on('error', (err) => this.destroy(err));
    if (child.exitCode !== null) this.exited(child.exitCode);
    else child.once('exit', (code) => this.exited(code));
  }

  private exited(code: number | null): void {
    if (code === 3) this.destroy(Object.assign(new Error('connection reset by the target'), { code: 'ECONNRESET' }));
  }

  override _read(): void {
    this.stdout.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.stdin.write(chunk, (err) => cb(err ?? null));
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.stdin.end(() => cb());
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    this.stdin.destroy();
    this.stdout.destroy();
    cb(err);
  }
}

/**
 * Connects to `port` on 127.0.0.1 (or ::1) inside the network namespace pinned at `netns` (undefined: the
 * host's). UnavailableError with the reason when nothing listens there.
 */
export async function connectInNetns(netns: string | undefined, port: number, signal: AbortSignal): Promise<Duplex> {
  if (netns === undefined) return hostConnect(port, signal);
  const child = await start(requireNativeHelper('netns-connect'), [netns, String(port)], {
    env: { PATH: DEFAULT_PATH },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let message = '';
  const stderr = child.stderr as Readable;
  stderr.on('data', (c: Buffer) => {
    message += c.toString('utf8');
  });
  // The helper closes stderr once connected, or writes the reason and exits.
  await new Promise<void>((resolve) => stderr.once('close', () => resolve()));
  if (message !== '') {
    child.kill('SIGKILL');
    throw new UnavailableError(message.trim());
  }
  const onAbort = (): void => {
    child.kill('SIGKILL');
  };
  signal.addEventListener('abort', onAbort, { once: true });
  child.once('exit', () => signal.removeEventListener('abort', onAbort));
  return new HelperDuplex(child);
}
