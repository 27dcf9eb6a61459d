/**
 * markTopDir (chattr +T) on the real filesystem of the test's temp dir: the helper says it set the flag
 * exactly when lsattr then shows it (and, when it did not, chattr itself refuses the flag there too); the flag
 * is not inherited by a subdirectory; a missing directory is refused without throwing. The layer store marks
 * its extraction dir at start-up, the provisioner its container dir.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { LayerStore } from '../../../pkg/mesos/provisioner/stores/layer-store.js';
import { StorePaths } from '../../../pkg/mesos/provisioner/stores/paths.js';
import { type ImageSource, MesosProvisioner } from '../../../pkg/mesos/provisioner/index.js';
import { markTopDir, run } from '../../../pkg/sys/index.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'ucri-topdir-'));

/** lsattr's flag letters of a directory, or undefined where the filesystem has none to show. */
async function flags(dir: string): Promise<string | undefined> {
  const r = await run('lsattr', ['-d', dir], { allowFailure: true });
  return r.code === 0 ? r.stdout.trim().split(/\s+/)[0] : undefined;
}

describe('markTopDir', () => {
  after(() => rmSync(root, { recursive: true, force: true }));

  it('sets the Orlov top-directory flag where the filesystem has it, and says so', async () => {
    const dir = path.join(root, 'top');
    mkdirSync(dir);
    const marked = await markTopDir(dir);
    if (marked) {
      assert.match((await flags(dir)) ?? '', /T/);
      const sub = path.join(dir, 'sub');
      mkdirSync(sub);
      assert.doesNotMatch((await flags(sub)) ?? '', /T/, 'a subdirectory does not inherit the flag');
    } else {
      const probe = path.join(root, 'probe');
      mkdirSync(probe);
      const r = await run('chattr', ['+T', probe], { allowFailure: true }).catch(() => undefined);
      assert.notEqual(r?.code, 0, 'chattr sets the flag here, yet markTopDir said it could not');
    }
  });

  it('refuses a missing directory without throwing', async () => {
    assert.equal(await markTopDir(path.join(root, 'missing')), false);
  });

  it('is set on the layer store extraction dir and the provisioner container dir at start-up', async () => {
    const supported = await markTopDir(root);
    const paths = new StorePaths(path.join(root, 'images'));
    await new LayerStore(paths).recover();
    // recover() of an empty store reads no image and takes no lease: a source that fails if asked to.
    const refuse = () => assert.fail('the image source was asked for an image or a lease');
    const source: ImageSource = { layers: refuse, retain: refuse, release: refuse, leasesRecovered: async () => {} };
    await new MesosProvisioner({ workDir: root, source, backend: 'copy' }).recover([]);
    for (const dir of [paths.stagingDir, path.join(root, 'provisioner', 'containers')]) {
      if (supported) assert.match((await flags(dir)) ?? '', /T/, dir);
      else assert.doesNotMatch((await flags(dir)) ?? '', /T/, dir);
    }
  });
});
