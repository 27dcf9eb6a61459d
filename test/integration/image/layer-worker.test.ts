/**
 * The layer worker (pkg/image LayerWorker): the checks a pull relies on must happen inside the worker thread,
 * since the daemon's thread no longer sees the bytes. A blob whose digest does not match fails the job with
 * DigestMismatchError; a layer entry that climbs out of the target or writes through a planted symlink fails
 * (or is confined) exactly as on the main thread; an abort ends the job as a cancellation and only once the
 * worker stopped; anything but a 200 answers "fall back" without writing; the thread ends when idle.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { isBuiltin } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DigestMismatchError,
  LayerWorker,
  LayerWorkerPool,
  type RemoteApplyOptions,
  type RemoteBlob,
} from '../../../pkg/image/index.js';
import { configureLogging, isKind } from '../../../pkg/util/index.js';
import { FakeRegistry, sha } from '../../unit/image/fake-registry.js';
import { escapeSandbox, gzip, packTar } from '../../unit/image/tar-fixtures.js';

configureLogging({ silent: true });

/** Polls `cond` every `ms` until it holds, at most `tries` times. */
async function until(cond: () => boolean, tries: number, ms: number): Promise<void> {
  for (let i = 0; i < tries && !cond(); i++) await new Promise((r) => setTimeout(r, ms));
}

/** An exit hook (in place of the malloc trim) that counts its calls. */
function exitCounter(): { hook: () => void; readonly count: number } {
  let n = 0;
  return {
    hook: () => {
      n++;
    },
    get count() {
      return n;
    },
  };
}

/**
 * The worker's code as tsc writes it (dist/pkg/image/layer/worker-main.js, the default) and as the daemon runs
 * it: the bundle's one-file build (hack/bundle.ts), which must keep every guarantee below although it is built
 * apart from the daemon's chunks and without the parts of pkg/util it does not use.
 */
const BUNDLED = new URL('../../../bundle/ucri/layer-worker.cjs', import.meta.url);

describe('the bundled layer worker file', () => {
  it('is one CommonJS file that loads only node built-ins and holds no logger', async () => {
    const code = await fs.readFile(BUNDLED, 'utf8');
    const imports = [...code.matchAll(/\b(?:from|import|require\()\s*["']([\w@./:-]+)["']/g)].map((m) => m[1]);
    assert.ok(imports.length > 0, 'found its imports');
    assert.deepEqual(
      imports.filter((i) => !isBuiltin(i ?? '')),
      [],
      'no shared chunk of the daemon, no package loaded at run time',
    );
    assert.doesNotMatch(code, /sonic-boom|pino/i, 'pino is not bundled into the worker');
  });
});

for (const [label, script] of [
  ['tsc output', undefined],
  ['bundle', BUNDLED],
] as const) {
  describe(`LayerWorker (${label})`, () => {
    let fake: FakeRegistry;
    let tmp: string;
    let worker: LayerWorker;
    let n = 0;
    before(async () => {
      assert.equal(process.getuid?.(), 0, 'layer tests need root (owners)');
      fake = await new FakeRegistry().start();
      tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-layer-worker-'));
      worker = new LayerWorker(200, undefined, script);
    });
    after(async () => {
      await worker.close();
      await fake.stop();
      await fs.rm(tmp, { recursive: true, force: true });
    });

    /** A target dir and a sibling "outside" dir holding one victim file. */
    const sandbox = () => escapeSandbox(path.join(tmp, `case-${n++}`));

    async function assertOutsideUntouched(outside: string): Promise<void> {
      assert.deepEqual(await fs.readdir(outside), ['victim']);
      assert.equal(await fs.readFile(path.join(outside, 'victim'), 'utf8'), 'original');
    }

    function remote(blob: Buffer, digest = sha(blob)): RemoteBlob {
      fake.blobs.set(digest, blob);
      return {
        url: `http://${fake.host}/v2/app/w/blobs/${digest}`,
        userAgent: 'test',
        digest,
        size: blob.length,
        what: `blob ${digest}`,
      };
    }

    it('applies a layer and reports its diff_id and the bytes downloaded', async () => {
      const tar = await packTar([
        { name: 'etc/', type: 'directory' },
        { name: 'etc/hello', content: 'world', mode: 0o640, uid: 7, gid: 8 },
      ]);
      const blob = gzip(tar);
      const { root } = await sandbox();
      let bytes = 0;
      const r = await worker.apply(remote(blob), root, {
        format: 'overlay',
        signal: new AbortController().signal,
        diffId: sha(tar),
        onBytes: (k) => {
          bytes += k;
        },
      });
      assert.equal(r?.diffId, sha(tar));
      assert.equal(r?.compression, 'gzip');
      assert.equal(bytes, blob.length);
      assert.equal(await fs.readFile(path.join(root, 'etc/hello'), 'utf8'), 'world');
      const st = await fs.stat(path.join(root, 'etc/hello'));
      assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [7, 8, 0o640]);
    });

    it('reports the bytes coalesced (about one message per MiB) and where the job spent its time', async () => {
      const tar = await packTar([{ name: 'big', content: randomBytes(3 << 20) }]);
      const blob = gzip(tar);
      const { root } = await sandbox();
      const counts: number[] = [];
      let timing: Parameters<NonNullable<RemoteApplyOptions['onTiming']>>[0] | undefined;
      const started = Date.now();
      const r = await worker.apply(remote(blob), root, {
        format: 'overlay',
        signal: new AbortController().signal,
        diffId: sha(tar),
        onBytes: (k) => counts.push(k),
        onTiming: (t) => {
          timing = t;
        },
      });
      const elapsed = Date.now() - started;
      assert.equal(r?.diffId, sha(tar));
      assert.equal(
        counts.reduce((a, b) => a + b, 0),
        blob.length,
      );
      // One per MiB, one for the rest at the end, plus one per 100 ms of a slow download (a loaded machine).
      assert.ok(counts.length <= 4 + Math.ceil(elapsed / 100), `${counts.length} byte messages in ${elapsed} ms`);
      assert.ok(timing, 'timing reported');
      assert.ok(timing.headers <= timing.firstByte, JSON.stringify(timing));
      assert.ok(timing.firstByte <= timing.downloaded, JSON.stringify(timing));
      assert.ok(timing.downloaded <= timing.applied, JSON.stringify(timing));
      assert.ok(timing.waited >= 0 && timing.applied + timing.waited <= elapsed + 1, JSON.stringify(timing));
    });

    it('fails a blob whose content does not match its digest', async () => {
      const tar = await packTar([{ name: 'f', content: randomBytes(64 << 10) }]);
      const blob = gzip(tar);
      const other = sha(Buffer.from('something else'));
      const { root } = await sandbox();
      await assert.rejects(
        worker.apply(remote(blob, other), root, { format: 'overlay', signal: new AbortController().signal }),
        (err) => err instanceof DigestMismatchError && /does not match its descriptor/.test(err.message),
      );
    });

    it('fails a tar whose diff_id does not match', async () => {
      const tar = await packTar([{ name: 'f', content: 'x' }]);
      const { root } = await sandbox();
      await assert.rejects(
        worker.apply(remote(gzip(tar)), root, {
          format: 'overlay',
          signal: new AbortController().signal,
          diffId: sha(Buffer.from('not the tar')),
        }),
        (err) => err instanceof DigestMismatchError,
      );
    });

    it('rejects escaping names and hardlinks and confines planted symlinks', async () => {
      const signal = new AbortController().signal;
      for (const entry of [
        { name: '../outside/victim', content: 'pwned' },
        { name: 'a/../../outside/victim', content: 'pwned' },
      ]) {
        const { root, outside } = await sandbox();
        await assert.rejects(
          worker.apply(remote(gzip(await packTar([entry]))), root, { format: 'overlay', signal }),
          (err) => isKind(err, 'InvalidArgument'),
        );
        await assertOutsideUntouched(outside);
      }
      const { root, outside } = await sandbox();
      const link = await packTar([{ name: 'h', type: 'link', linkname: '../outside/victim' }]);
      await assert.rejects(worker.apply(remote(gzip(link)), root, { format: 'overlay', signal }), (err) =>
        isKind(err, 'InvalidArgument'),
      );
      await assertOutsideUntouched(outside);
      const planted = await packTar([
        { name: 'abs', type: 'symlink', linkname: outside },
        { name: 'abs/victim', content: 'pwned' },
        { name: 'f', type: 'symlink', linkname: path.join(outside, 'victim') },
        { name: 'f', content: 'pwned' },
      ]);
      const { root: root2 } = await sandbox();
      await worker.apply(remote(gzip(planted)), root2, { format: 'overlay', signal });
      assert.equal(await fs.readFile(path.join(root2, outside, 'victim'), 'utf8'), 'pwned');
      await assertOutsideUntouched(outside);
    });

    it('ends a cancelled job as cancelled, with the signal reason, and stays usable', async () => {
      const tar = await packTar([{ name: 'big', content: randomBytes(2 << 20) }]);
      const blob = gzip(tar);
      const r = remote(blob);
      fake.stallAfter.set(r.digest, blob.length >> 1);
      const { root } = await sandbox();
      const ac = new AbortController();
      const job = worker.apply(r, root, {
        format: 'overlay',
        signal: ac.signal,
        onBytes: () => ac.abort(),
      });
      await assert.rejects(job, (err) => isKind(err, 'Cancelled'));
      fake.stallAfter.delete(r.digest);
      const { root: root2 } = await sandbox();
      const ok = await worker.apply(r, root2, { format: 'overlay', signal: new AbortController().signal });
      assert.equal(ok?.diffId, sha(tar));
    });

    it('answers "fall back" for anything but a 200, without writing', async () => {
      const { root } = await sandbox();
      const missing = sha(Buffer.from('absent'));
      const r: RemoteBlob = {
        url: `http://${fake.host}/v2/app/w/blobs/${missing}`,
        userAgent: 'test',
        digest: missing,
        what: 'absent',
      };
      assert.equal(await worker.apply(r, root, { format: 'overlay', signal: new AbortController().signal }), undefined);
      assert.deepEqual(await fs.readdir(root), []);
    });

    it('ends its thread once idle and starts again for the next job', async () => {
      const tar = await packTar([{ name: 'f', content: 'x' }]);
      const { root } = await sandbox();
      await worker.apply(remote(gzip(tar)), root, { format: 'overlay', signal: new AbortController().signal });
      assert.equal(worker.running, true);
      await until(() => !worker.running, 100, 50);
      assert.equal(worker.running, false);
      const { root: root2 } = await sandbox();
      const again = await worker.apply(remote(gzip(tar)), root2, {
        format: 'overlay',
        signal: new AbortController().signal,
      });
      assert.equal(again?.diffId, sha(tar));
    });

    it('warm() starts a thread that reports ready, ends when no job comes, and is followed by the exit hook', async () => {
      const exits = exitCounter();
      const w = new LayerWorker(200, exits.hook, script);
      try {
        assert.equal(w.ready, false);
        w.warm();
        assert.equal(w.running, true);
        await until(() => w.ready, 200, 25);
        assert.equal(w.ready, true, 'the thread reports ready once its code is loaded');
        await until(() => !w.running, 100, 50);
        assert.equal(w.running, false, 'an unused warm thread ends when idle');
        assert.equal(w.ready, false);
        await until(() => exits.count > 0, 40, 25);
        assert.equal(exits.count, 1, 'the exit hook (malloc trim) ran once the thread had exited');
        // A job on a warm thread runs there.
        const tar = await packTar([{ name: 'f', content: 'y' }]);
        const { root } = await sandbox();
        w.warm();
        await until(() => w.ready, 200, 25);
        const r = await w.apply(remote(gzip(tar)), root, { format: 'overlay', signal: new AbortController().signal });
        assert.equal(r?.diffId, sha(tar));
        assert.equal(await fs.readFile(path.join(root, 'f'), 'utf8'), 'y');
      } finally {
        await w.close();
      }
    });

    it('LayerWorkerPool runs concurrent jobs on threads of their own, each checked, and ends every thread', async () => {
      const exits = exitCounter();
      const pool = new LayerWorkerPool(2, 200, exits.hook, script);
      try {
        assert.equal(pool.running, 0);
        const tars = await Promise.all(
          [0, 1, 2].map((i) => packTar([{ name: `big-${i}`, content: randomBytes(2 << 20) }])),
        );
        const roots = await Promise.all(tars.map(() => sandbox()));
        const jobs = tars.map((tar, i) =>
          pool.apply(remote(gzip(tar)), roots[i]!.root, {
            format: 'overlay',
            signal: new AbortController().signal,
            diffId: sha(tar),
          }),
        );
        assert.equal(pool.running, 2, 'three jobs at once started both threads, not more');
        const results = await Promise.all(jobs);
        for (const [i, r] of results.entries()) assert.equal(r?.diffId, sha(tars[i]!));
        for (const [i, { root }] of roots.entries()) {
          assert.equal((await fs.stat(path.join(root, `big-${i}`))).size, 2 << 20);
        }
        // A blob that does not match its digest fails on whichever thread takes it, and the pool stays usable.
        const bad = await packTar([{ name: 'bad', content: 'x' }]);
        const { root: badRoot } = await sandbox();
        await assert.rejects(
          pool.apply(remote(gzip(bad), sha(Buffer.from('other'))), badRoot, {
            format: 'overlay',
            signal: new AbortController().signal,
          }),
          DigestMismatchError,
        );
        await until(() => pool.running === 0, 100, 50);
        assert.equal(pool.running, 0, 'both threads end when idle');
        await until(() => exits.count >= 2, 40, 25);
        assert.equal(exits.count, 2, 'the exit hook ran once per thread');
        // warm() starts one thread; the layers of a small pull, even two at once, run on it.
        pool.warm();
        assert.equal(pool.running, 1);
        await until(() => pool.ready, 200, 25);
        assert.equal(pool.ready, true);
        /** Two one-file layers applied at once; the function returned awaits them and checks their diff_ids. */
        const twoAtOnce = async (contents: string[], small: boolean): Promise<() => Promise<void>> => {
          const tars = await Promise.all(contents.map((c) => packTar([{ name: 'f', content: c }])));
          const roots = await Promise.all(tars.map(() => sandbox()));
          const signal = new AbortController().signal;
          const jobs = tars.map((tar, i) =>
            pool.apply(remote(gzip(tar)), roots[i]!.root, { format: 'overlay', signal, ...(small ? { small } : {}) }),
          );
          return async () => {
            for (const [i, r] of (await Promise.all(jobs)).entries()) assert.equal(r?.diffId, sha(tars[i]!));
          };
        };
        const smallDone = await twoAtOnce(['y', 'z'], true);
        assert.equal(pool.running, 1, 'a small pull starts no second thread');
        await smallDone();
        // A large pull's second layer at once starts the second thread.
        const largeDone = await twoAtOnce(['a', 'b'], false);
        assert.equal(pool.running, 2);
        await largeDone();
      } finally {
        await pool.close();
      }
      assert.equal(pool.running, 0);
    });
  });
}

describe('LayerWorkerPool', () => {
  it('refuses a thread count that is not a positive integer', () => {
    for (const n of [0, -1, 1.5, Number.NaN]) assert.throws(() => new LayerWorkerPool(n), RangeError);
  });
});
