/** removeScratchDir: an exec's scratch directory is gone afterwards, whatever is (or is not) in it. */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { removeScratchDir } from '../../../pkg/oci/scratch.js';

const roots: string[] = [];
after(async () => {
  for (const r of roots) await fs.rm(r, { recursive: true, force: true });
});

async function scratch(files: string[]): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-scratch-test-'));
  roots.push(root);
  const dir = path.join(root, 'ucri-exec-x');
  await fs.mkdir(dir);
  for (const f of files) {
    await fs.mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await fs.writeFile(path.join(dir, f), 'x');
  }
  return dir;
}

const NAMES = ['process.json', 'pid', 'runtime.log', 'console.sock'];

describe('removeScratchDir', () => {
  it('removes the named files and the directory', async () => {
    const dir = await scratch(['process.json', 'pid', 'runtime.log']);
    await removeScratchDir(dir, NAMES);
    assert.equal(existsSync(dir), false);
  });

  it('removes an empty directory (no name present)', async () => {
    const dir = await scratch([]);
    await removeScratchDir(dir, NAMES);
    assert.equal(existsSync(dir), false);
  });

  it('removes what it does not know about too: other files and subdirectories', async () => {
    const dir = await scratch(['process.json', '.pid12345', 'left/over/file']);
    await removeScratchDir(dir, NAMES);
    assert.equal(existsSync(dir), false);
  });

  it('removes a named entry that is a directory', async () => {
    const dir = await scratch(['pid/inside']);
    await removeScratchDir(dir, NAMES);
    assert.equal(existsSync(dir), false);
  });

  it('resolves when the directory is already gone', async () => {
    const dir = await scratch([]);
    await fs.rmdir(dir);
    await removeScratchDir(dir, NAMES);
    assert.equal(existsSync(dir), false);
  });
});
