import assert from 'node:assert/strict';
import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { exchangeAvailable, exchangeSync } from '../../../pkg/util/exchange.js';
import {
  backgroundUnlinksSettled,
  DirSyncer,
  isTempName,
  readJson,
  syncFile,
  unlinkIfPresentSync,
  writeFileAtomic,
  writeFileReplace,
  writeJsonAtomic,
  writeFileReplaceSync,
  writeJsonReplace,
  writeJsonReplaceSync,
  writeNewJsonDurable,
} from '../../../pkg/util/index.js';

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
  await backgroundUnlinksSettled();
  assert.deepEqual(await fs.readdir(path.join(root, 'a', 'b')), ['rec.json']);
  assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
});

it('writeJsonReplaceSync replaces a file at once, into missing parents, and leaves no temp file on failure', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-checkpoint-'));
  dirs.push(root);
  const file = path.join(root, 'a', 'b', 'rec.json');
  writeJsonReplaceSync(file, { n: 1n });
  // Written when the call returns: read synchronously, nothing awaited in between.
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { n: '1' });
  writeJsonReplaceSync(file, { n: 2 });
  assert.deepEqual(await readJson(file), { n: 2 });
  await backgroundUnlinksSettled();
  assert.deepEqual(await fs.readdir(path.dirname(file)), ['rec.json']);
  assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
  writeFileReplaceSync(path.join(root, 'x'), 'text', 0o644);
  assert.equal((await fs.stat(path.join(root, 'x'))).mode & 0o777, 0o644 & ~process.umask());
  // The rename fails (a non-empty directory holds the name): the error is thrown, the temp file removed.
  await fs.mkdir(path.join(root, 'd', 'rec.json'), { recursive: true });
  await fs.writeFile(path.join(root, 'd', 'rec.json', 'f'), '');
  assert.throws(
    () => writeJsonReplaceSync(path.join(root, 'd', 'rec.json'), {}),
    (e: NodeJS.ErrnoException) => ['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes(e.code ?? ''),
  );
  assert.deepEqual(await fs.readdir(path.join(root, 'd')), ['rec.json']);
});

it('writeNewJsonDurable writes a new record through one handle, leaving no temp file', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-checkpoint-'));
  dirs.push(root);
  const file = path.join(root, 'd', 'rec.json');
  await writeNewJsonDurable(file, { n: 5n }, [root]);
  assert.deepEqual(await readJson(file), { n: '5' });
  assert.deepEqual(await fs.readdir(path.dirname(file)), ['rec.json']);
  assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
  // A failed fsync of an extra path fails the write (the record is not known durable), the file stays.
  await assert.rejects(writeNewJsonDurable(path.join(root, 'd', 'b.json'), {}, [path.join(root, 'missing')]));
  assert.deepEqual((await fs.readdir(path.dirname(file))).sort(), ['b.json', 'rec.json']);
});

it('DirSyncer keeps its directory open across syncs and opens it again after close; unlinkIfPresentSync', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-checkpoint-'));
  dirs.push(root);
  const d = new DirSyncer(root);
  const file = path.join(root, 'rec.json');
  await writeJsonReplace(file, { n: 1 });
  await d.syncFile(file);
  await d.sync();
  unlinkIfPresentSync(file);
  unlinkIfPresentSync(file); // absent: fine
  await d.sync();
  await backgroundUnlinksSettled();
  assert.deepEqual(await fs.readdir(root), []);
  await d.close();
  await d.close();
  await d.sync();
  await d.close();
  // A directory that does not exist fails the sync, and a later one, once it exists, succeeds.
  const later = new DirSyncer(path.join(root, 'later'));
  await assert.rejects(later.sync(), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  await fs.mkdir(path.join(root, 'later'));
  await later.sync();
  await later.close();
});

it('writeFileAtomic and writeFileReplace: the same file whether small (event loop) or large (thread pool)', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-checkpoint-'));
  dirs.push(root);
  const small = 'x'.repeat(1000);
  const large = Buffer.alloc((64 << 10) + 1, 7);
  for (const [name, data] of [
    ['small', small],
    ['large', large],
  ] as const) {
    for (const write of [writeFileAtomic, writeFileReplace]) {
      const file = path.join(root, write.name, name, 'f');
      await write(file, data, 0o640);
      assert.deepEqual(await fs.readFile(file), Buffer.from(data));
      assert.equal((await fs.stat(file)).mode & 0o777, 0o640 & ~process.umask());
      await write(file, 'again');
      assert.equal(await fs.readFile(file, 'utf8'), 'again');
      await backgroundUnlinksSettled();
      assert.deepEqual(await fs.readdir(path.dirname(file)), ['f'], 'no temp file left');
      // A rename that fails (a non-empty directory holds the name): rejected, the temp file removed.
      const held = path.join(path.dirname(file), 'held');
      await fs.mkdir(held);
      await fs.writeFile(path.join(held, 'x'), '');
      await assert.rejects(write(held, data), (e: NodeJS.ErrnoException) =>
        ['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes(e.code ?? ''),
      );
      assert.deepEqual((await fs.readdir(path.dirname(file))).sort(), ['f', 'held']);
    }
  }
  // A sync of what is not there rejects (never throws at the call) with the path's ENOENT.
  const missing = syncFile(path.join(root, 'missing', 'f'));
  await assert.rejects(missing, (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
});

it('exchangeSync swaps two names, only over a regular file, and says why it did not', async () => {
  // Without the addon every replace falls back to a rename that frees the old file on the event loop.
  assert.equal(exchangeAvailable(), true, 'dist/native/ucri-fs.node is built by `make native`');
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-exchange-'));
  dirs.push(root);
  const [a, b] = [path.join(root, 'a'), path.join(root, 'b')];
  await fs.writeFile(a, 'A');
  await fs.writeFile(b, 'B');
  const inodeOfA = (await fs.stat(a)).ino;
  assert.equal(exchangeSync(a, b), 0);
  assert.equal(await fs.readFile(a, 'utf8'), 'B');
  assert.equal(await fs.readFile(b, 'utf8'), 'A');
  assert.equal((await fs.stat(b)).ino, inodeOfA, 'the file itself moved, not a copy');
  const ENOENT = 2;
  const EISDIR = 21;
  assert.equal(exchangeSync(a, path.join(root, 'missing')), ENOENT);
  assert.equal(exchangeSync(path.join(root, 'missing'), b), ENOENT);
  await fs.mkdir(path.join(root, 'dir'));
  assert.equal(exchangeSync(a, path.join(root, 'dir')), EISDIR, 'never swaps a file with a directory');
  assert.equal(await fs.readFile(a, 'utf8'), 'B');
  assert.throws(() => exchangeSync(`${a}\0x`, b), /NUL/);
});

it('a replace keeps the old file under a temp name until its background unlink, and a reader that had it open reads it whole', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-checkpoint-'));
  dirs.push(root);
  const file = path.join(root, 'rec.json');
  writeJsonReplaceSync(file, { n: 1 });
  await backgroundUnlinksSettled();
  const reader = await fs.open(file, 'r');
  const oldInode = (await reader.stat()).ino;
  writeJsonReplaceSync(file, { n: 2 });
  // The new content is in place at once; the old file is the temp beside it until the unlink, which starts
  // once this turn of the event loop has ended (nothing is awaited in between).
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { n: 2 });
  const names = readdirSync(root);
  const aside = names.filter(isTempName);
  assert.equal(aside.length, 1, `old file under a temp name: ${names}`);
  assert.equal((await fs.stat(path.join(root, aside[0]!))).ino, oldInode);
  assert.deepEqual(JSON.parse(await reader.readFile('utf8')), { n: 1 });
  await reader.close();
  await backgroundUnlinksSettled();
  assert.deepEqual(await fs.readdir(root), ['rec.json']);
  // A removal: the name goes at once, the file with the background unlink.
  unlinkIfPresentSync(file);
  assert.equal(readdirSync(root).filter(isTempName).length, 1);
  assert.deepEqual(
    readdirSync(root).filter((n) => !isTempName(n)),
    [],
  );
  await backgroundUnlinksSettled();
  assert.deepEqual(await fs.readdir(root), []);
});
