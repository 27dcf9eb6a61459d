/**
 * The image index's name semantics (moved tags, removing one name, leases) and its atomic persistence, and
 * the small pure pieces around it: appc references, the CRI user translation.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { imageUser } from '../../../pkg/cri/image/translate.js';
import { ImageIndex, type StoredImage } from '../../../pkg/mesos/provisioner/stores/image-index.js';
import { formatAppcReference, parseAppcReference } from '../../../pkg/mesos/provisioner/stores/index.js';
import { emptyImageConfig } from '../../../pkg/containerizer/index.js';

const id = (c: string) => `sha256:${c.repeat(64)}`;
function image(c: string, tags: string[], digests: string[] = []): StoredImage {
  return {
    id: id(c),
    repoTags: tags,
    repoDigests: digests,
    size: 1,
    config: emptyImageConfig(),
    kind: 'docker',
    pinned: false,
    layers: [id(c === 'a' ? 'f' : 'e')],
    manifestDigest: '',
    pulledAt: 0,
    blobs: [id(c)],
    layerDigests: [],
    source: 'test',
  };
}

describe('image index', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true }))));
  const fresh = async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-index-'));
    dirs.push(dir);
    return new ImageIndex(path.join(dir, 'images.json'));
  };

  it('moves a tag to a new image; the old keeps its other names or is orphaned', async () => {
    const ix = await fresh();
    await ix.load();
    assert.deepEqual(ix.put(image('a', ['r:1', 'r:keep'], ['r@sha256:1'])), []);
    assert.deepEqual(ix.put(image('b', ['r:1'])), []);
    assert.equal(ix.byName('r:1')?.id, id('b'));
    assert.deepEqual(ix.byId(id('a'))?.repoTags, ['r:keep']);
    assert.deepEqual(ix.put(image('c', ['r:keep', 'x:1'])), []);
    assert.deepEqual(ix.put(image('c', ['r@sha256:1'])), [id('a')], 'a lost its last name');
    assert.deepEqual(ix.byId(id('c'))?.repoTags, ['r:keep', 'x:1', 'r@sha256:1'], 'names merge on re-put');
  });

  it('removes one name at a time, and leases keep a nameless image', async () => {
    const ix = await fresh();
    await ix.load();
    ix.put(image('a', ['r:1', 'r:2']));
    assert.equal(ix.removeName('r:1'), id('a'));
    assert.ok(ix.named(id('a')));
    ix.setLease('ctr1', id('a'));
    ix.removeNames(id('a'));
    assert.ok(!ix.named(id('a')) && ix.leased(id('a')));
    assert.deepEqual(ix.visible(), []);
    assert.equal(ix.byIdPrefix('aaa').length, 0, 'hidden images are not found by prefix');
    assert.equal(ix.dropLease('ctr1'), id('a'));
    assert.ok(!ix.leased(id('a')));
    assert.deepEqual([...ix.referencedLayers()], [id('f')]);
  });

  it('shares frozen records, replaces them on every change and bumps the version, leases aside', async () => {
    const ix = await fresh();
    await ix.load();
    const v0 = ix.version;
    ix.put(image('a', ['r:1', 'r:2']));
    const a1 = ix.byId(id('a'))!;
    assert.ok(Object.isFrozen(a1) && Object.isFrozen(a1.repoTags) && Object.isFrozen(a1.config.env));
    assert.throws(() => (a1.repoTags as string[]).push('x'), TypeError);
    assert.ok(ix.version > v0);
    const list = ix.visible();
    assert.equal(ix.visible(), list, 'the list is shared while nothing changes');
    const v1 = ix.version;
    ix.setLease('c', id('a'));
    ix.dropLease('c');
    assert.equal(ix.version, v1, 'leases do not change what readers see');
    assert.equal(ix.visible(), list);
    ix.removeName('r:1');
    const a2 = ix.byId(id('a'))!;
    assert.notEqual(a2, a1, 'a change replaces the record');
    assert.deepEqual(a1.repoTags, ['r:1', 'r:2'], 'the old record is unchanged');
    assert.deepEqual(a2.repoTags, ['r:2']);
    assert.ok(ix.version > v1);
    assert.notEqual(ix.visible(), list);
    const v2 = ix.version;
    ix.put(image('b', ['r:2']));
    assert.ok(ix.version > v2);
    assert.deepEqual(a2.repoTags, ['r:2'], 'a moved tag replaces, never edits, the old owner');
    assert.deepEqual(ix.byId(id('a'))?.repoTags, []);
    const v3 = ix.version;
    ix.delete(id('a'));
    assert.ok(ix.version > v3);
    await ix.save();
    const v4 = ix.version;
    await ix.load();
    assert.ok(ix.version > v4, 'a reload is a change');
    assert.ok(Object.isFrozen(ix.byId(id('b'))) && Object.isFrozen(ix.byId(id('b'))?.layers));
  });

  it('persists atomically and reloads the same state', async () => {
    const ix = await fresh();
    await ix.load();
    ix.put(image('a', ['r:1']));
    ix.setLease('c', id('a'));
    await ix.save();
    const again = new ImageIndex((ix as unknown as { file: string }).file);
    await again.load();
    assert.equal(again.byName('r:1')?.id, id('a'));
    assert.equal(again.lease('c'), id('a'));
  });

  it('rejects a corrupt index file instead of starting empty', async () => {
    const ix = await fresh();
    const file = (ix as unknown as { file: string }).file;
    await fs.writeFile(file, '{"version":1,"images":{"x":{}}}');
    await assert.rejects(ix.load(), /invalid/);
  });
});

describe('appc references and image users', () => {
  it('parses appc names with an optional version', () => {
    assert.deepEqual(parseAppcReference('appc:example.com/app:1.2'), { name: 'example.com/app', version: '1.2' });
    assert.equal(formatAppcReference(parseAppcReference('appc:example.com/app')), 'appc:example.com/app:latest');
    assert.throws(() => parseAppcReference('appc:Bad/Name'), /invalid appc image name/);
    assert.throws(() => parseAppcReference('appc:../x'), /invalid appc image name/);
  });

  it('reports numeric users as uid and names as username', () => {
    assert.deepEqual(imageUser(''), { uid: undefined, username: '' });
    assert.deepEqual(imageUser('1002:1003'), { uid: { value: 1002n }, username: '' });
    assert.deepEqual(imageUser('www-data:staff'), { uid: undefined, username: 'www-data' });
  });
});
