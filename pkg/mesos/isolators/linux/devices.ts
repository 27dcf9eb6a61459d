/**
 * Device nodes for OCI `linux.devices` and their device cgroup rules: one host device (a CRI device
 * mapping) or every device of the host (privileged containers). Shared by filesystem/linux and
 * linux/security; it is a helper, not an isolator.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { LinuxDevice, LinuxDeviceCgroup } from '../../../oci/index.js';
import { FailedPreconditionError, InvalidArgumentError } from '../../../util/index.js';

/** Linux dev_t split the way glibc's major()/minor() do (64-bit dev_t). */
export function splitDev(rdev: number): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n);
  const minor = (d & 0xffn) | ((d >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}

/** The device at `hostPath` (symlinks followed) as an OCI device at `containerPath`; undefined if not a device. */
export async function deviceAt(hostPath: string, containerPath: string): Promise<LinuxDevice | undefined> {
  const st = await fs.stat(hostPath);
  let type: string;
  if (st.isCharacterDevice()) type = 'c';
  else if (st.isBlockDevice()) type = 'b';
  else if (st.isFIFO()) type = 'p';
  else return undefined;
  const { major, minor } = splitDev(st.rdev);
  const dev: LinuxDevice = { path: containerPath, type, fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  if (type !== 'p') Object.assign(dev, { major, minor });
  return dev;
}

/** The cgroup rule that allows `dev` with `access` (`r`, `w`, `m` combined). */
export function allowRule(dev: LinuxDevice, access: string): LinuxDeviceCgroup {
  return { allow: true, type: dev.type, major: dev.major ?? null, minor: dev.minor ?? null, access };
}

const PERMISSIONS_RE = /^(?!.*(.).*\1)[rwm]{1,3}$/;

/**
 * The devices of one CRI device mapping: a device node, or every device below a directory (as containerd
 * does for e.g. /dev/snd). FailedPreconditionError when the host path does not exist or holds no device.
 */
export async function mappedDevices(
  hostPath: string,
  containerPath: string,
  permissions: string,
): Promise<{ devices: LinuxDevice[]; rules: LinuxDeviceCgroup[] }> {
  if (!path.isAbsolute(hostPath) || !path.isAbsolute(containerPath)) {
    throw new InvalidArgumentError(`device paths must be absolute: "${hostPath}" → "${containerPath}"`);
  }
  const access = permissions === '' ? 'rwm' : permissions;
  if (!PERMISSIONS_RE.test(access)) throw new InvalidArgumentError(`invalid device permissions "${permissions}"`);
  let st: import('node:fs').Stats;
  try {
    st = await fs.stat(hostPath);
  } catch (err) {
    throw new FailedPreconditionError(`device "${hostPath}" does not exist on the host`, { cause: err });
  }
  const found: LinuxDevice[] = [];
  if (st.isDirectory()) {
    for (const rel of await walk(hostPath, '')) {
      const d = await deviceAt(path.join(hostPath, rel), path.join(containerPath, rel));
      if (d) found.push(d);
    }
  } else {
    const d = await deviceAt(hostPath, containerPath);
    if (d) found.push(d);
  }
  if (found.length === 0) throw new FailedPreconditionError(`"${hostPath}" is not a device`);
  return { devices: found, rules: found.map((d) => allowRule(d, access)) };
}

/** Relative paths of the non-directory entries below `dir` (symlinked directories are not followed). */
async function walk(dir: string, rel: string, skip: ReadonlySet<string> = new Set()): Promise<string[]> {
  const out: string[] = [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    if (skip.has(r)) continue;
    if (e.isDirectory()) out.push(...(await walk(dir, r, skip)));
    else if (e.isCharacterDevice() || e.isBlockDevice()) out.push(r);
  }
  return out;
}

/**
 * Every device node of the host's /dev for a privileged container, except the ones every container gets
 * its own of (pts, shm, mqueue, console) and /dev/ptmx (runc links it to pts/ptmx).
 */
export async function hostDevices(devDir = '/dev'): Promise<LinuxDevice[]> {
  const skip = new Set(['pts', 'shm', 'mqueue', 'console', 'ptmx', 'core', 'fd', 'stdin', 'stdout', 'stderr']);
  const out: LinuxDevice[] = [];
  for (const rel of await walk(devDir, '', skip)) {
    const d = await deviceAt(path.join(devDir, rel), `/dev/${rel}`).catch(() => undefined);
    if (d) out.push(d);
  }
  return out;
}
