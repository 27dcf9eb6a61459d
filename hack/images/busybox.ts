/**
 * The base root filesystem of the fixtures: Debian's static busybox with one symlink per applet in /bin, and a
 * small /etc that tests rely on (users, groups, hosts placeholders). No network and no daemon are involved.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import { FailedPreconditionError } from '../../pkg/util/index.js';
import { Layer, type LayerOptions } from './layer.js';

/** Where the static busybox is read from (Debian package busybox-static). */
export const BUSYBOX_PATH = '/bin/busybox';

/** Applets that tests use; the build fails if the host busybox lacks one. */
// biome-ignore format: a dense table reads better than one applet per line
export const REQUIRED_APPLETS = [
  'sh', 'ls', 'cat', 'echo', 'sleep', 'id', 'env', 'pwd', 'httpd', 'wget', 'nc', 'ip', 'hostname', 'top', 'ps',
  'mount', 'head', 'tail', 'grep', 'true', 'false', 'touch', 'mkdir', 'rm', 'stat', 'test', '[', 'tee', 'date',
  'kill', 'chmod', 'chown', 'cp', 'mv', 'ln', 'readlink', 'sed', 'awk', 'wc', 'seq', 'uname', 'whoami', 'nslookup',
];

/** The PATH of every fixture. */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Users and groups of the fixtures. `test` (1002:1003) is also a member of group `extra` (50000), so tests of
 * supplementary groups from /etc/group have something to find.
 */
export const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/bin/false',
  'www-data:x:33:33:www-data:/var/www:/bin/false',
  'test:x:1002:1003:test user:/home/test:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
];

export const GROUP = [
  'root:x:0:',
  'daemon:x:1:',
  'www-data:x:33:',
  'test:x:1003:',
  'extra:x:50000:test',
  'nogroup:x:65534:',
];

const execFileP = promisify(execFile);

/** Reads the static busybox and its applet list; a clear error if the package is missing. */
export async function loadBusybox(file = BUSYBOX_PATH): Promise<{ binary: Buffer; applets: string[] }> {
  let binary: Buffer;
  try {
    binary = await fs.readFile(file);
  } catch (err) {
    throw new FailedPreconditionError(
      `static busybox "${file}" not found: install the Debian package "busybox-static"`,
      { cause: err },
    );
  }
  const { stdout } = await execFileP(file, ['--list'], { encoding: 'utf8' });
  const applets = stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'busybox' && !s.includes('/'));
  const missing = REQUIRED_APPLETS.filter((a) => !applets.includes(a));
  if (missing.length > 0) {
    throw new FailedPreconditionError(`busybox "${file}" lacks applets ${missing.map((a) => `"${a}"`).join(', ')}`);
  }
  return { binary, applets: [...new Set(applets)].sort() };
}

/** Options of the base layer. */
export interface BusyboxLayerOptions extends LayerOptions {
  /**
   * Applets as hard links of /bin/busybox, as the docker library busybox images have them, instead of
   * symlinks. Matters where a path is masked: a bind mount over a symlink lands on busybox itself.
   */
  hardlinkApplets?: boolean;
}

/** The base layer: /bin/busybox, applet symlinks, /etc, /tmp (1777), /root (0700), /home/test, /var/www. */
export function busyboxLayer(bb: { binary: Buffer; applets: string[] }, opts: BusyboxLayerOptions = {}): Layer {
  const { hardlinkApplets, ...layerOpts } = opts;
  const l = new Layer({ createdBy: 'busybox base: /bin/busybox, applets, /etc', ...layerOpts });
  for (const d of ['bin', 'dev', 'etc', 'proc', 'sys', 'usr', 'usr/bin', 'var', 'var/www']) l.dir(d);
  l.dir('root', { mode: 0o700 });
  l.dir('tmp', { mode: 0o1777 });
  l.dir('home').dir('home/test', { uid: 1002, gid: 1003 });
  l.file('bin/busybox', bb.binary, { mode: 0o755 });
  for (const a of bb.applets) {
    if (hardlinkApplets) l.hardlink(`bin/${a}`, 'bin/busybox');
    else l.symlink(`bin/${a}`, 'busybox');
  }
  // Scripts often start with #!/usr/bin/env.
  l.symlink('usr/bin/env', '/bin/busybox');
  l.file('etc/passwd', `${PASSWD.join('\n')}\n`);
  l.file('etc/group', `${GROUP.join('\n')}\n`);
  l.file('etc/shadow', `${PASSWD.map((p) => `${p.split(':')[0]}:*:19000:0:99999:7:::`).join('\n')}\n`, { mode: 0o640 });
  // Placeholders: runtimes bind-mount the real files over them.
  l.file('etc/hosts', '127.0.0.1\tlocalhost\n');
  l.file('etc/hostname', 'fixture\n');
  l.file('etc/resolv.conf', '');
  return l;
}
