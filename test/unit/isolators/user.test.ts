import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  RootfsFileCache,
  readFileInRoot,
  resolveUser,
  type UserRequest,
} from '../../../pkg/mesos/isolators/linux/user.js';
import { resolveInRoot } from '../../../pkg/sys/index.js';
import { isKind } from '../../../pkg/util/index.js';

let tmp: string;
let rootfs: string;

const PASSWD =
  'root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nbad line\n';
const GROUP = 'root:x:0:\nwww-data:x:33:\napp:x:1000:\nstaff:x:50:app,other\nextra:x:3000:app\n';

function req(over: Partial<UserRequest>): UserRequest {
  return {
    runAsUser: undefined,
    runAsGroup: undefined,
    runAsUsername: '',
    supplementalGroups: [],
    imageUser: '',
    ...over,
  };
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-user-'));
  rootfs = path.join(tmp, 'rootfs');
  await fs.mkdir(path.join(rootfs, 'etc'), { recursive: true });
  await fs.writeFile(path.join(rootfs, 'etc/passwd'), PASSWD);
  await fs.writeFile(path.join(rootfs, 'etc/group'), GROUP);
});

after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('user resolution in the rootfs', () => {
  it('resolves numeric, named and image users with groups', async () => {
    assert.deepEqual(await resolveUser(rootfs, req({})), { uid: 0, gid: 0, additionalGids: [], name: 'root' });
    assert.deepEqual(await resolveUser(rootfs, req({ runAsUser: 1000 })), {
      uid: 1000,
      gid: 1000,
      additionalGids: [50, 3000],
      name: 'app',
    });
    assert.deepEqual(await resolveUser(rootfs, req({ runAsUser: 4242 })), { uid: 4242, gid: 0, additionalGids: [] });
    assert.deepEqual(await resolveUser(rootfs, req({ runAsUser: 1000, runAsGroup: 7, supplementalGroups: [9, 50] })), {
      uid: 1000,
      gid: 7,
      additionalGids: [50, 3000, 9],
      name: 'app',
    });
    assert.equal((await resolveUser(rootfs, req({ runAsUsername: 'www-data' }))).uid, 33);
    assert.deepEqual(await resolveUser(rootfs, req({ imageUser: 'app:staff' })), {
      uid: 1000,
      gid: 50,
      additionalGids: [50, 3000],
      name: 'app',
    });
    assert.equal((await resolveUser(rootfs, req({ imageUser: '1000:5' }))).gid, 5);
    assert.equal((await resolveUser(rootfs, req({ imageUser: '33' }))).name, 'www-data');
    // run_as_user wins over the image USER.
    assert.equal((await resolveUser(rootfs, req({ runAsUser: 0, imageUser: 'app' }))).uid, 0);
  });

  it('names missing users and groups', async () => {
    for (const r of [
      req({ runAsUsername: 'nobody' }),
      req({ imageUser: 'ghost' }),
      req({ imageUser: 'app:nogroup' }),
    ]) {
      await assert.rejects(resolveUser(rootfs, r), (e: unknown) => {
        assert.ok(isKind(e, 'FailedPrecondition'), String(e));
        assert.match(String(e), /"(nobody|ghost|nogroup)"/);
        return true;
      });
    }
    await assert.rejects(resolveUser(rootfs, req({ runAsUser: -1 })), (e: unknown) => isKind(e, 'InvalidArgument'));
  });

  it('never follows symlinks out of the rootfs', async () => {
    // The host side: a passwd the image must not be able to reach.
    await fs.mkdir(path.join(tmp, 'host-etc'));
    await fs.writeFile(path.join(tmp, 'host-etc/passwd'), 'evil:x:0:0::/:/bin/sh\n');
    const r2 = path.join(tmp, 'rootfs2');
    await fs.mkdir(path.join(r2, 'host-etc'), { recursive: true });
    await fs.writeFile(path.join(r2, 'host-etc/passwd'), 'safe:x:5:5::/:/bin/sh\n');
    await fs.symlink('../../host-etc', path.join(r2, 'etc'));
    assert.equal(await resolveInRoot(r2, '/etc/passwd'), path.join(r2, 'host-etc/passwd'));
    assert.equal((await resolveUser(r2, req({ runAsUsername: 'safe' }))).uid, 5);
    await assert.rejects(resolveUser(r2, req({ runAsUsername: 'evil' })), (e: unknown) =>
      isKind(e, 'FailedPrecondition'),
    );
    // An absolute link is taken relative to the rootfs too.
    const r3 = path.join(tmp, 'rootfs3');
    await fs.mkdir(path.join(r3, 'etc'), { recursive: true });
    await fs.symlink(path.join(tmp, 'host-etc/passwd'), path.join(r3, 'etc/passwd'));
    assert.equal(await readFileInRoot(r3, '/etc/passwd'), undefined);
    // A link loop fails instead of spinning.
    await fs.symlink('loop', path.join(r3, 'loop'));
    await assert.rejects(resolveInRoot(r3, '/loop/x'), (e: unknown) => isKind(e, 'InvalidArgument'));
    // No passwd at all: numeric users still work, names do not.
    assert.deepEqual(await resolveUser(r3, req({ imageUser: '7:8' })), { uid: 7, gid: 8, additionalGids: [] });
  });
});

describe('passwd and group cache per rootfs content', () => {
  it('reads a key once, never answers another key or an unkeyed call from it', async () => {
    const cache = new RootfsFileCache();
    const a = path.join(tmp, 'cache-a');
    const b = path.join(tmp, 'cache-b');
    for (const [root, name] of [
      [a, 'alpha'],
      [b, 'beta'],
    ] as const) {
      await fs.mkdir(path.join(root, 'etc'), { recursive: true });
      await fs.writeFile(path.join(root, 'etc/passwd'), `${name}:x:1000:1000::/:/bin/sh\n`);
    }
    const files = (key: string | undefined) => ({ cache, key });
    assert.equal((await resolveUser(a, req({ runAsUser: 1000 }), files('img-a'))).name, 'alpha');
    // The same key answers from the cache even though the file changed underneath (that rootfs's layers
    // are immutable; a changed rootfs has no key or another one).
    await fs.writeFile(path.join(a, 'etc/passwd'), 'changed:x:1000:1000::/:/bin/sh\n');
    assert.equal((await resolveUser(a, req({ runAsUser: 1000 }), files('img-a'))).name, 'alpha');
    // Another key, and no key (a restored rootfs), read the rootfs.
    assert.equal((await resolveUser(b, req({ runAsUser: 1000 }), files('img-b'))).name, 'beta');
    assert.equal((await resolveUser(a, req({ runAsUser: 1000 }), files(undefined))).name, 'changed');
    assert.equal(cache.size, 2);
    // An absent file is kept as absent: names fail, numbers work, for that key only.
    const c = path.join(tmp, 'cache-c');
    await fs.mkdir(c, { recursive: true });
    assert.deepEqual(await resolveUser(c, req({ imageUser: '5' }), files('img-c')), {
      uid: 5,
      gid: 0,
      additionalGids: [],
    });
    await assert.rejects(resolveUser(c, req({ imageUser: 'alpha' }), files('img-c')), (e: unknown) =>
      isKind(e, 'FailedPrecondition'),
    );
  });

  it('keeps no refusal and evicts the least recently used key', async () => {
    const cache = new RootfsFileCache(2);
    const bad = path.join(tmp, 'cache-bad');
    await fs.mkdir(path.join(bad, 'etc/passwd'), { recursive: true }); // a directory, not a file
    for (let i = 0; i < 2; i++) {
      await assert.rejects(cache.read(bad, '/etc/passwd', 'bad'), (e: unknown) => isKind(e, 'FailedPrecondition'));
    }
    assert.equal(cache.size, 0);
    await cache.read(rootfs, '/etc/passwd', 'k1');
    await cache.read(rootfs, '/etc/passwd', 'k2');
    await cache.read(rootfs, '/etc/passwd', 'k1'); // k1 used last: k2 goes first
    await cache.read(rootfs, '/etc/passwd', 'k3');
    assert.equal(cache.size, 2);
    const moved = path.join(tmp, 'cache-moved');
    await fs.mkdir(path.join(moved, 'etc'), { recursive: true });
    await fs.writeFile(path.join(moved, 'etc/passwd'), 'other:x:1:1::/:/bin/sh\n');
    assert.equal(await cache.read(moved, '/etc/passwd', 'k1'), PASSWD);
    assert.equal(await cache.read(moved, '/etc/passwd', 'k2'), 'other:x:1:1::/:/bin/sh\n');
  });
});
