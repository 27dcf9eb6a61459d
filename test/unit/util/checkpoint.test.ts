import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { readJson, syncFile, writeJsonAtomic, writeJsonReplace } from '../../../pkg/util/index.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

it('writes a checkpoint into missing parent dirs and over an existing one, leaving no temp file', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-checkpoint-'));
  dirs.push(root);
  const file = path.join(root, 'a', 'b', 'rec.json');
  await writeJsonAtomic(file, { n: 1n });
  assert.deepEqual(await readJson(file), { n: '1' });
  await writeJsonReplace(file, { n: 2 });
  await syncFile(file);
  assert.deepEqual(await readJson(file), { n: 2 });
  await writeJsonReplace(path.join(root, 'c', 'rec.json'), { n: 3 });
  assert.deepEqual(await readJson(path.join(root, 'c', 'rec.json')), { n: 3 });
  assert.deepEqual(await fs.readdir(path.join(root, 'a', 'b')), ['rec.json']);
  assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
});
