/**
 * Linux capabilities as this host grants them: the names by number (capability.h) and the subset a container
 * can be given here, bounded by the kernel's cap_last_cap and by ucri's own bounding set (CapBnd in
 * /proc/self/status). A runtime can never hand out a capability it lacks itself (runc fails with EPERM),
 * e.g. CAP_SYS_RESOURCE where the host withholds it from root.
 */
import { promises as fs } from 'node:fs';

/** Capability names by number (capability.h). */
// biome-ignore format: one row per eight capabilities
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

let hostCaps: Promise<readonly string[]> | undefined;

/** Parses the `CapBnd:` mask of a /proc/<pid>/status text; every bit set when the line is absent. */
export function boundingMask(statusText: string): bigint {
  const bnd = /^CapBnd:\s*([0-9a-f]+)$/m.exec(statusText);
  return bnd ? BigInt(`0x${bnd[1]}`) : -1n;
}

/**
 * The capabilities a container can be given here: those this kernel knows (up to cap_last_cap) that are also
 * in ucri's own bounding set. `ALL` and privileged mean these. Read once per process.
 */
export function hostCapabilities(): Promise<readonly string[]> {
  hostCaps ??= (async () => {
    const last = await fs
      .readFile('/proc/sys/kernel/cap_last_cap', 'utf8')
      .then((t) => Number(t.trim()))
      .catch(() => ALL_CAPABILITIES.length - 1);
    const mask = boundingMask(await fs.readFile('/proc/self/status', 'utf8').catch(() => ''));
    return ALL_CAPABILITIES.slice(0, last + 1).filter((_, bit) => (mask >> BigInt(bit)) & 1n);
  })();
  return hostCaps;
}

/** The capabilities this kernel knows that ucri's bounding set lacks (none on most hosts). */
export async function withheldCapabilities(): Promise<string[]> {
  const last = await fs
    .readFile('/proc/sys/kernel/cap_last_cap', 'utf8')
    .then((t) => Number(t.trim()))
    .catch(() => ALL_CAPABILITIES.length - 1);
  const granted = new Set(await hostCapabilities());
  return ALL_CAPABILITIES.slice(0, last + 1).filter((c) => !granted.has(c));
}
