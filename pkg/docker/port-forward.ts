/**
 * Port forwarding into a docker pod's network namespace: a TCP connection to the pod's loopback made from
 * inside its pinned namespace by `nsenter --net=<pin> busybox nc`, whose stdio is the returned stream.
 * Whether anything listens is checked first in the namespace's own /proc/net/tcp{,6}, so a closed port is
 * a clear Unavailable instead of a stream that ends at once.
 *
 * (A native netns-connect helper for Mesos pods is being written under native/ by the streaming work; once
 * it lands this should use it instead of nsenter + nc.)
 */
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { run } from '../sys/index.js';
import { InvalidArgumentError, UnavailableError } from '../util/index.js';

/** Ports in LISTEN state in a /proc/net/tcp table. */
export function listeningPorts(table: string): Set<number> {
  const out = new Set<number>();
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[3] !== '0A') continue;
    const port = Number.parseInt(f[1]?.split(':')[1] ?? '', 16);
    if (Number.isInteger(port)) out.add(port);
  }
  return out;
}

/** Opens a connection to `port` on the loopback of the namespace pinned at `netns` ('' = the host's). */
export async function portForward(netns: string, port: number, signal: AbortSignal): Promise<Duplex> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError(`invalid port ${port}`);
  const enter = netns ? ['nsenter', `--net=${netns}`, '--'] : [];
  const [file, ...pre] = [...enter, 'busybox'];
  const tables = await run(file!, [...pre, 'cat', '/proc/net/tcp', '/proc/net/tcp6'], { signal, allowFailure: true });
  if (!listeningPorts(tables.stdout).has(port)) {
    throw new UnavailableError(`nothing listens on port ${port} in the pod's network namespace`);
  }
  const child = spawn(file!, [...pre, 'nc', '127.0.0.1', String(port)], { stdio: ['pipe', 'pipe', 'ignore'] });
  const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  stream.once('close', kill);
  signal.addEventListener('abort', () => stream.destroy(), { once: true });
  return stream;
}
