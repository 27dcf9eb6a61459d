/**
 * The `auto` backend choice, made per image: `bind` for a single-layer image when the container asks for a
 * read-only rootfs (nothing to copy, nothing to mount over), else `overlay` where the host supports it,
 * else `copy`, which works everywhere.
 *
 * Overlay support is probed once per provisioner, as Mesos does at start-up: the work dir's filesystem must
 * be able to hold an upper dir (not overlay, aufs, btrfs, ecryptfs or zfs; xfs only with ftype=1), and a
 * real overlay mount in a temp dir under the work dir must work, including a whiteout.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { mountsUnder, overlayMount, run, unmountAllUnder } from '../../../sys/index.js';
import { errorMessage, logger } from '../../../util/index.js';
import type { BackendName } from '../types.js';
import { bindCompatible } from './bind.js';

/** Looked up per use, so a later configureLogging (daemon start-up, silent tests) takes effect. */
const log = () => logger('mesos/provisioner');

/** statfs(2) magic numbers of filesystems overlayfs refuses (or mishandles) as the upper layer. */
const REFUSED_FS: ReadonlyMap<number, string> = new Map([
  [0x794c7630, 'overlay'],
  [0x61756673, 'aufs'],
  [0x9123683e, 'btrfs'],
  [0xf15f, 'ecryptfs'],
  [0x2fc12fc1, 'zfs'],
]);
const XFS_MAGIC = 0x58465342;

export interface OverlaySupport {
  supported: boolean;
  /** Why not, for logs and errors; empty when supported. */
  reason: string;
}

/** Decides overlay support for upper dirs under `root` (which exists), probing in `mkdtemp(probePrefix)`. */
export async function probeOverlay(root: string, probePrefix: string): Promise<OverlaySupport> {
  const st = await fs.statfs(root);
  const refused = REFUSED_FS.get(st.type);
  if (refused) return { supported: false, reason: `"${root}" is on ${refused}` };
  if (st.type === XFS_MAGIC) {
    // Without d_type (ftype=0) overlayfs cannot tell whiteouts apart; xfs_info says which it is.
    const r = await run('xfs_info', [root], { allowFailure: true }).catch(() => undefined);
    if (r && /ftype=0/.test(r.stdout)) return { supported: false, reason: `"${root}" is xfs without ftype=1` };
  }
  const dir = await fs.mkdtemp(probePrefix);
  try {
    for (const d of ['lower', 'upper', 'work', 'merged']) await fs.mkdir(path.join(dir, d));
    await fs.writeFile(path.join(dir, 'lower', 'f'), 'x');
    await overlayMount(path.join(dir, 'merged'), {
      lowerDirs: [path.join(dir, 'lower')],
      upperDir: path.join(dir, 'upper'),
      workDir: path.join(dir, 'work'),
    });
    await fs.writeFile(path.join(dir, 'merged', 'g'), 'y');
    await fs.rm(path.join(dir, 'merged', 'f'));
    const g = await fs.readFile(path.join(dir, 'upper', 'g'), 'utf8');
    const wh = await fs.lstat(path.join(dir, 'upper', 'f'));
    if (g !== 'y' || !wh.isCharacterDevice() || wh.rdev !== 0) {
      return { supported: false, reason: 'overlay mount does not behave (upper writes or whiteouts)' };
    }
    return { supported: true, reason: '' };
  } catch (err) {
    return { supported: false, reason: `overlay probe failed: ${errorMessage(err)}` };
  } finally {
    await unmountAllUnder(dir, { lazy: true }).catch(() => {});
    // Never rm through a mount that is still there (it would reach into whatever is mounted).
    if ((await mountsUnder(dir)).length === 0) await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Picks the backend of `auto` per image, probing overlay support once. */
export class BackendChooser {
  private support: Promise<OverlaySupport> | undefined;

  constructor(
    private readonly root: string,
    private readonly probePrefix: string,
  ) {}

  /** The cached probe result (probing on first call). */
  overlaySupport(): Promise<OverlaySupport> {
    this.support ??= probeOverlay(this.root, this.probePrefix).then((s) => {
      if (s.supported) log().info('overlay supported: auto backend uses overlay for writable rootfses');
      else log().warn({ reason: s.reason }, 'overlay not supported: auto backend uses copy');
      return s;
    });
    return this.support;
  }

  async choose(layerDirs: readonly string[], readonlyRootfs: boolean): Promise<BackendName> {
    if (readonlyRootfs && (await bindCompatible(layerDirs))) return 'bind';
    return (await this.overlaySupport()).supported ? 'overlay' : 'copy';
  }
}
