/** The one-copy helpers of pkg/util: ids, rollback lists, abort races, executables, timestamps. No root needed. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { infraId, validateId } from '../../../pkg/mesos/paths.js';
import {
  checkId,
  errorOfKind,
  findExecutable,
  isKind,
  isValidId,
  logger,
  MAX_ID_LENGTH,
  mkdirOnce,
  mkdirOnceSync,
  nowNs,
  parseByteQuantity,
  pathExists,
  requireExecutable,
  Rollback,
  untilAborted,
} from '../../../pkg/util/index.js';

describe('ids', () => {
  it('admits what ucri makes and what clients of the lower layers pick', () => {
    const hex = 'a'.repeat(64);
    for (const id of [hex, `${hex}-infra`, 'c1', 'Pod_1.2-x', '9', 'x'.repeat(MAX_ID_LENGTH)]) {
      assert.ok(isValidId(id), id);
      assert.equal(checkId(id), id);
    }
  });

  it('rejects what could leave a directory, read as an option or exceed runc’s limit', () => {
    for (const id of [
      '',
      '-x',
      '.',
      '..',
      '.hidden',
      'a/b',
      '../a',
      'a b',
      'a+b',
      'a\0',
      'é',
      'x'.repeat(MAX_ID_LENGTH + 1),
    ]) {
      assert.equal(isValidId(id), false, JSON.stringify(id));
      assert.throws(
        () => checkId(id, 'container id'),
        (err: unknown) => isKind(err, 'InvalidArgument') && String(err).includes('invalid container id'),
      );
    }
  });

  it('keeps a pod id short enough that its infra id is valid too', () => {
    const longest = 'p'.repeat(MAX_ID_LENGTH - '-infra'.length);
    assert.ok(isValidId(infraId(longest)));
    assert.throws(
      () => validateId(`${longest}p`),
      (err: unknown) => isKind(err, 'InvalidArgument'),
    );
  });
});

describe('Rollback', () => {
  it('runs undos newest first, each with its own live signal, past a failing one, then forgets them', async () => {
    const done: string[] = [];
    const undo = new Rollback(logger('test'), 5_000);
    undo.add('a', () => done.push('a'));
    undo.add('b', () => {
      throw new Error('b fails');
    });
    undo.add('c', async (signal) => {
      assert.equal(signal.aborted, false);
      done.push('c');
    });
    await undo.run({ id: 'x' });
    assert.deepEqual(done, ['c', 'a']);
    await undo.run();
    assert.deepEqual(done, ['c', 'a']);
  });

  it('runs nothing after commit', async () => {
    const done: string[] = [];
    const undo = new Rollback(logger('test'));
    undo.add('a', () => done.push('a'));
    undo.commit();
    await undo.run();
    assert.deepEqual(done, []);
  });
});

describe('untilAborted', () => {
  it('follows the promise when the signal stays quiet or is absent', async () => {
    assert.equal(await untilAborted(Promise.resolve(1), new AbortController().signal), 1);
    assert.equal(await untilAborted(Promise.resolve(2), undefined), 2);
    await assert.rejects(untilAborted(Promise.reject(new Error('own')), new AbortController().signal), /own/);
  });

  it('rejects with the abort’s domain error, or with onAbort(), while the work goes on', async () => {
    const ac = new AbortController();
    let finish!: (v: number) => void;
    const work = new Promise<number>((resolve) => {
      finish = resolve;
    });
    const waiting = untilAborted(work, ac.signal);
    ac.abort();
    await assert.rejects(waiting, (err: unknown) => isKind(err, 'Cancelled'));
    await assert.rejects(
      untilAborted(work, ac.signal, () => new Error('mine')),
      /mine/,
    );
    await assert.rejects(
      untilAborted(work, AbortSignal.timeout(1)),
      (err: unknown) => isKind(err, 'DeadlineExceeded') || isKind(err, 'Cancelled'),
    );
    finish(3);
    assert.equal(await work, 3);
  });
});

describe('executables', () => {
  it('finds a bare name in the given directories, a path as given (absolute), files only', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-which-'));
    try {
      await fs.writeFile(path.join(dir, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
      await fs.writeFile(path.join(dir, 'plain'), 'x', { mode: 0o644 });
      await fs.mkdir(path.join(dir, 'sub'));
      assert.equal(await findExecutable('tool', [dir]), path.join(dir, 'tool'));
      assert.equal(await findExecutable('plain', [dir]), undefined);
      assert.equal(await findExecutable('sub', [dir]), undefined);
      assert.equal(await findExecutable(path.join(dir, 'tool')), path.join(dir, 'tool'));
      assert.equal(await findExecutable(path.relative(process.cwd(), path.join(dir, 'tool'))), path.join(dir, 'tool'));
      await assert.rejects(requireExecutable('tool', ['/nonexistent-dir']), (err: unknown) =>
        isKind(err, 'Unavailable'),
      );
      assert.equal(await requireExecutable('tool', [dir]), path.join(dir, 'tool'));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('nowNs', () => {
  it('is wall-clock nanoseconds since the epoch', () => {
    // nowNs is node's time origin (the wall clock read once at start-up) plus the monotonic clock since then,
    // so it is not Date.now() to the millisecond: the origin's wall and monotonic readings are two calls apart
    // (a process descheduled between them, on a loaded machine, keeps that gap for life), and a step of the
    // wall clock after start-up (NTP, a VM's clock sync) is not seen. This failed once under load with a 1 ms
    // window; a second's slack still tells epoch nanoseconds from milliseconds or time since boot.
    const slack = 1_000_000_000n;
    const before = BigInt(Date.now()) * 1_000_000n;
    const now = nowNs();
    const after = BigInt(Date.now() + 1) * 1_000_000n;
    assert.ok(now >= before - slack && now <= after + slack, `${before} ≤ ${now} ≤ ${after} (± 1 s)`);
  });
});

describe('parseByteQuantity', () => {
  it('reads Kubernetes byte quantities and refuses the rest', () => {
    assert.equal(parseByteQuantity('1048576'), 1048576);
    assert.equal(parseByteQuantity('10Mi'), 10 * 2 ** 20);
    assert.equal(parseByteQuantity('1.5G'), 1.5e9);
    assert.equal(parseByteQuantity('2k'), 2000);
    assert.equal(parseByteQuantity('0'), 0);
    for (const bad of ['', '-1', '1e3', '10MB', '10 Mi', 'Mi', '1.5.2', '99999999999Pi']) {
      assert.equal(parseByteQuantity(bad), undefined, bad);
    }
  });
});

describe('errorOfKind', () => {
  it('rebuilds every domain error kind, and nothing for other names', () => {
    for (const kind of ['NotFound', 'AlreadyExists', 'InvalidArgument', 'Unavailable', 'Unauthenticated'] as const) {
      const e = errorOfKind(kind, 'm');
      assert.ok(e && isKind(e, kind), kind);
      assert.equal(e.message, 'm');
    }
    assert.equal(errorOfKind('Error', 'm'), undefined);
    assert.equal(errorOfKind('toString', 'm'), undefined);
  });
});

describe('dirs', () => {
  it('mkdirOnce makes a dir once (true), finds it there (false), makes missing parents after all', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-dirs-'));
    try {
      const d = path.join(tmp, 'a');
      assert.equal(await mkdirOnce(d, 0o700), true);
      assert.equal((await fs.stat(d)).mode & 0o777, 0o700 & ~process.umask());
      assert.equal(await mkdirOnce(d, 0o755), false, 'existing: left as it is');
      assert.equal((await fs.stat(d)).mode & 0o777, 0o700 & ~process.umask());
      const deep = path.join(tmp, 'b', 'c', 'd');
      assert.equal(await mkdirOnce(deep, 0o755), true, 'missing parents made');
      assert.ok((await fs.stat(deep)).isDirectory());
      await fs.writeFile(path.join(tmp, 'f'), '');
      assert.equal(await mkdirOnce(path.join(tmp, 'f'), 0o755), false, 'a file of that name: the caller finds out');
      await assert.rejects(mkdirOnce(path.join(tmp, 'f', 'x'), 0o755), { code: 'ENOTDIR' });
      assert.equal(await pathExists(d), true);
      assert.equal(await pathExists(path.join(tmp, 'nope')), false);
      await fs.symlink(path.join(tmp, 'nope'), path.join(tmp, 'dangling'));
      assert.equal(await pathExists(path.join(tmp, 'dangling')), true, 'a dangling symlink exists');
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });

  it('mkdirOnceSync gives the same answers as mkdirOnce, synchronously', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-dirs-'));
    try {
      const d = path.join(tmp, 'a');
      assert.equal(mkdirOnceSync(d, 0o700), true);
      assert.equal((await fs.stat(d)).mode & 0o777, 0o700 & ~process.umask());
      assert.equal(mkdirOnceSync(d, 0o755), false, 'existing: left as it is');
      assert.equal((await fs.stat(d)).mode & 0o777, 0o700 & ~process.umask());
      const deep = path.join(tmp, 'b', 'c', 'd');
      assert.equal(mkdirOnceSync(deep, 0o750), true, 'missing parents made');
      assert.equal((await fs.stat(deep)).mode & 0o777, 0o750 & ~process.umask());
      await fs.writeFile(path.join(tmp, 'f'), '');
      assert.equal(mkdirOnceSync(path.join(tmp, 'f'), 0o755), false, 'a file of that name: the caller finds out');
      assert.throws(() => mkdirOnceSync(path.join(tmp, 'f', 'x'), 0o755), { code: 'ENOTDIR' });
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });
});
