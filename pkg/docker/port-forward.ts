/**
 * Port forwarding into a docker pod's network namespace: the same native netns-connect helper the Mesos
 * containerizer uses (pkg/sys connectInNetns) enters the pinned namespace and connects to the pod's loopback,
 * so a closed port is a clear Unavailable with the helper's reason ('' netns: the host's loopback).
 */
import type { Duplex } from 'node:stream';
import { connectInNetns } from '../sys/index.js';
import { InvalidArgumentError } from '../util/index.js';

/** Ports in LISTEN state in a /proc/net/tcp table (for diagnostics and tests). */
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
  return connectInNetns(netns === '' ? undefined : netns, port, signal);
}
