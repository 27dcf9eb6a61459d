/**
 * Launchers (Mesos `Launcher`): `linux` (conmon + OCI runtime with namespaces) and `posix` (the same pair,
 * mount namespace only). `auto` picks linux when ucri runs as root on a kernel with namespaces.
 */
import { promises as fs } from 'node:fs';
import { LinuxLauncher } from './linux-launcher.js';
import type { OciLauncherOptions } from './oci.js';
import { PosixLauncher } from './posix.js';
import type { Launcher } from './types.js';

export { LinuxLauncher } from './linux-launcher.js';
export { OciLauncher, type OciLauncherOptions } from './oci.js';
export { PosixLauncher } from './posix.js';
export type * from './types.js';

export type LauncherName = 'auto' | 'linux' | 'posix';

/** True when this process can create namespaces (root, and the kernel exposes them). */
export async function namespacesSupported(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  const kinds = ['mnt', 'pid', 'net', 'ipc', 'uts'];
  const present = await Promise.all(
    kinds.map((k) =>
      fs.access(`/proc/self/ns/${k}`).then(
        () => true,
        () => false,
      ),
    ),
  );
  return present.every(Boolean);
}

/** Opens the named launcher (`auto`: linux when namespaces are supported, else posix). */
export async function openLauncher(name: LauncherName, opts: OciLauncherOptions): Promise<Launcher> {
  const pick = name === 'auto' ? ((await namespacesSupported()) ? 'linux' : 'posix') : name;
  return pick === 'linux' ? LinuxLauncher.open(opts) : PosixLauncher.open(opts);
}
