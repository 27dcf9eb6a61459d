/** Nanoseconds since the epoch, now (CRI timestamps and Mesos records use this unit). */
export function nowNs(): bigint {
  // timeOrigin + now() is wall-clock time with microsecond resolution.
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}
