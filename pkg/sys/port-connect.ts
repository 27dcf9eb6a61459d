/**
 * TCP connections to a port on the loopback of a network namespace, for port-forwarding: through
 * native/netns-connect, which enters the namespace and relays (Node cannot setns), or directly on the
 * host's loopback when there is no namespace (host-network pods).
 */
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { Duplex, type Readable, type Writable } from 'node:stream';
import { UnavailableError } from '../util/index.js';
import { requireNativeHelper } from './native.js';
import { DEFAULT_PATH, start } from './spawn.js';

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

/** The helper's stdio as one Duplex; destroying it ends the helper. */
function helperDuplex(child: ChildProcess): Duplex {
  const d = Duplex.from({ readable: child.stdout as Readable, writable: child.stdin as Writable });
  d.once('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return d;
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
  return helperDuplex(child);
}
