/**
 * A free /24 for a test's or bench's own bridge network, in `10.<base>.x.0/24` or `10.<base+1>.x.0/24`. The
 * random start spreads concurrent runs (several checkouts on one host) over different subnets; each candidate
 * is checked against the host's addresses, routes and other CNI configs by pickFreeSubnet.
 */
import { randomBytes } from 'node:crypto';
import { pickFreeSubnet } from '../../pkg/mesos/isolators/network/index.js';

export async function randomFreeSubnet24(base: number): Promise<string> {
  const start = randomBytes(1)[0]!;
  return pickFreeSubnet(
    Array.from({ length: 64 }, (_, i) => `10.${base + ((start + i) % 2)}.${(start * 7 + i * 13) % 256}.0/24`),
  );
}
