/**
 * Real containers: runc under each container monitor (conmon, and ucri's own native/monitor, which must
 * behave the same as far as ucri observes), and crun under ucri's monitor (the default runtime where crun is
 * installed), with the default spec (private pid/ipc/uts/mount/net namespaces).
 * Needs root. Every container, monitor, cgroup and directory is removed in `after`.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { attachSession, Conmon, execSync, hybridWithV2Controllers } from '../../../pkg/oci/index.js';
import { crunDeleteFromState, crunKillFromState, crunStartFromState } from '../../../pkg/oci/crun-state.js';
import { startFromState } from '../../../pkg/oci/runc-state.js';
import {
  cgroupDirs,
  cgroupExists,
  controllerDir,
  detectCgroups,
  isAlive,
  nativeHelper,
  oomKilled,
  readCgroupStats,
  run,
} from '../../../pkg/sys/index.js';
import { isKind } from '../../../pkg/util/index.js';
import { eventually, Fixture } from './fixture.js';

const LOG_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) (stdout|stderr) (F|P) (.*)$/;

async function logLines(file: string): Promise<string[]> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '');
}

const COMBINATIONS = [
  ['conmon', 'runc'],
  ['ucri', 'runc'],
  ['ucri', 'crun'],
] as const;

for (const [monitor, runtimeKind] of COMBINATIONS) {
  describe(`${monitor} + ${runtimeKind}`, () => {
    let f: Fixture;

    before(async () => {
      f = await Fixture.create(monitor, runtimeKind);
    });

    after(async () => {
      await f?.cleanup();
    });

    it('creates blocked, starts, logs in CRI format and reports the exit code', async () => {
      const b = await f.bundle(['sh', '-c', 'echo hello; echo oops >&2; exit 3']);
      const c = await f.createContainer(b);
      assert.ok(c.pid > 0 && c.conmonPid > 0);
      const st = await f.runtime.state(b.id);
      assert.equal(st.status, 'created');
      assert.equal(st.pid, c.pid);
      assert.ok(await isAlive(c.pid), 'init is alive and blocked before start');
      assert.equal(await f.conmon.readExit(b.id), undefined);
      assert.equal(c.attachSocket, path.join(b.dir, 'attach'));
      assert.ok((await fs.stat(c.attachSocket)).isSocket());

      await f.runtime.start(b.id);
      assert.equal(await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid }), 3);
      const lines = await logLines(b.logPath);
      const parsed = lines.map((l) => l.match(LOG_LINE));
      assert.ok(
        parsed.every((m) => m !== null),
        `CRI log lines: ${lines.join(' | ')}`,
      );
      assert.deepEqual(parsed.map((m) => `${m![2]} ${m![3]} ${m![4]}`).sort(), ['stderr F oops', 'stdout F hello']);

      assert.equal((await f.runtime.state(b.id)).status, 'stopped');
      await eventually(async () => ((await isAlive(c.conmonPid)) ? undefined : true), 'conmon to exit');
      await f.runtime.delete(b.id);
      await assert.rejects(f.runtime.state(b.id), (e: unknown) => isKind(e, 'NotFound'));
      await assert.rejects(f.runtime.delete(b.id), (e: unknown) => isKind(e, 'NotFound'));
      assert.equal(await cgroupExists(b.cgroup), false, 'runc delete removed the cgroup');
    });

    // runc only: crun's counterpart is further down.
    if (runtimeKind === 'runc')
      it('starts a created container without a runc process, as runc start does', async () => {
        const b = await f.bundle(['sh', '-c', 'echo started; sleep 30']);
        const c = await f.createContainer(b);
        const fifo = path.join(f.runtime.root, b.id, 'exec.fifo');
        assert.ok((await fs.lstat(fifo)).isFIFO());
        assert.equal(await startFromState(f.runtime.root, b.id), true, 'taken without runc');
        assert.equal((await f.runtime.state(b.id)).status, 'running', 'runc sees it running');
        await assert.rejects(fs.lstat(fifo), 'the fifo is gone, as after runc start');
        await eventually(
          async () => ((await logLines(b.logPath)).some((l) => l.endsWith(' started')) ? true : undefined),
          'output',
        );
        assert.ok(await isAlive(c.pid), 'the user process runs as the init');
        // Not created any more: left to runc, which refuses.
        assert.equal(await startFromState(f.runtime.root, b.id), false);
        await assert.rejects(f.runtime.start(b.id), /cannot start/);
        await f.runtime.kill(b.id, 'SIGKILL');
        assert.equal(await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid }), 137);
        await f.runtime.delete(b.id);
      });

    it('waitExit works for a conmon that is not our child and for an exit that already happened', async () => {
      const b = await f.bundle(['sh', '-c', 'exit 0']);
      const c = await f.createContainer(b);
      await f.runtime.start(b.id);
      // A fresh Conmon object, as after a daemon restart: only the exit dir is shared.
      const again = await Conmon.open({
        runtime: f.runtime,
        exitDir: f.conmon.exitDir,
        socketDir: f.conmon.socketDir,
        monitor,
      });
      assert.equal(await again.waitExit(b.id, { conmonPid: c.conmonPid, conmonStartTime: c.conmonStartTime }), 0);
      assert.equal(await again.waitExit(b.id), 0, 'second wait answers from the exit file');
      await f.runtime.delete(b.id);
      await again.removeExit(b.id);
      assert.equal(await again.readExit(b.id), undefined);
    });

    it('reports a failed create with the runtime message and leaves nothing behind', async () => {
      const b = await f.bundle(['/no/such/binary']);
      await assert.rejects(f.conmon.create({ id: b.id, bundle: b.dir, logPath: b.logPath }), (e: unknown) => {
        assert.ok(isKind(e, 'Internal'), String(e));
        assert.match((e as Error).message, /no such file or directory/i);
        assert.match((e as Error).message, /"c\d+-/);
        return true;
      });
      await assert.rejects(f.runtime.state(b.id), (e: unknown) => isKind(e, 'NotFound'));
      assert.equal(await f.conmon.readExit(b.id), undefined);
      assert.equal(await cgroupExists(b.cgroup), false);
    });

    it('kills with SIGTERM (handled) and SIGKILL', async () => {
      const term = await f.bundle(['sh', '-c', 'trap "exit 7" TERM; sleep 1000 & wait']);
      const kill = await f.bundle(['sleep', '1000']);
      const ct = await f.createContainer(term);
      const ck = await f.createContainer(kill);
      await f.runtime.start(term.id);
      await f.runtime.start(kill.id);
      assert.equal((await f.runtime.state(term.id)).status, 'running');
      // The trap is installed once sh has started sleep: wait for the child process to show up.
      await eventually(async () => ((await f.runtime.ps(term.id)).length >= 2 ? true : undefined), 'sleep child');
      await f.runtime.kill(term.id, 'SIGTERM');
      await f.runtime.kill(kill.id, 'KILL');
      assert.equal(await f.conmon.waitExit(term.id, { conmonPid: ct.conmonPid }), 7);
      assert.equal(await f.conmon.waitExit(kill.id, { conmonPid: ck.conmonPid }), 137);
      await f.runtime.delete(term.id);
      await f.runtime.delete(kill.id);
      await assert.rejects(f.runtime.kill(kill.id, 'KILL'), (e: unknown) => isKind(e, 'NotFound'));
      await assert.rejects(f.runtime.kill(kill.id, 'NOT A SIGNAL'), (e: unknown) => isKind(e, 'InvalidArgument'));
    });

    it('exec-sync captures output and exit code, and times out', async () => {
      const b = await f.bundle(['sleep', '1000']);
      const c = await f.createContainer(b);
      await f.runtime.start(b.id);
      const proc = { ...b.spec.process!, args: ['echo', 'hi'] };
      const r = await execSync(await f.conmon.conmon(), { id: b.id, process: proc });
      assert.equal(r.exitCode, 0);
      assert.equal(r.stdout.toString(), 'hi\n');
      assert.equal(r.stderr.toString(), '');

      const r2 = await execSync(await f.conmon.conmon(), {
        id: b.id,
        process: { ...proc, args: ['sh', '-c', 'printf partial; echo err >&2; exit 4'] },
      });
      assert.equal(r2.exitCode, 4);
      assert.equal(r2.stdout.toString(), 'partial');
      assert.equal(r2.stderr.toString(), 'err\n');

      await assert.rejects(
        execSync(await f.conmon.conmon(), {
          id: b.id,
          process: { ...proc, args: ['sh', '-c', 'sleep 100 & sleep 100 & sleep 100'] },
          timeoutMs: 1000,
        }),
        (e: unknown) => isKind(e, 'DeadlineExceeded'),
      );
      // As critest checks: right after the reply, the timed-out process and its children are gone (reaped).
      assert.deepEqual(await f.runtime.ps(b.id), [c.pid]);
      await assert.rejects(
        execSync(await f.conmon.conmon(), { id: b.id, process: { ...proc, args: ['/nonexistent'] } }),
        (e: unknown) => isKind(e, 'Internal') && /nonexistent/.test((e as Error).message),
      );
      // The exec sessions did not disturb the container's own exit file or control fifo.
      assert.equal(await f.conmon.readExit(b.id), undefined);
      assert.ok((await fs.stat(c.ctlFifo)).isFIFO());
      await f.runtime.kill(b.id, 'KILL');
      assert.equal(await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid }), 137);
      await f.runtime.delete(b.id);
    });

    it('reopens the log file on request', async () => {
      const b = await f.bundle([
        'sh',
        '-c',
        'echo before; while ! test -e /tmp/go-$0; do sleep 0.05; done; echo after',
      ]);
      b.spec.process!.args!.push(b.id);
      await fs.writeFile(path.join(b.dir, 'config.json'), JSON.stringify(b.spec));
      const c = await f.createContainer(b);
      await f.runtime.start(b.id);
      await eventually(async () => ((await logLines(b.logPath)).length > 0 ? true : undefined), 'first log line');
      await fs.rename(b.logPath, `${b.logPath}.1`);
      await Conmon.reopenLog(b.dir);
      await eventually(
        () =>
          fs.access(b.logPath).then(
            () => true,
            () => undefined,
          ),
        'new log',
      );
      await fs.writeFile(path.join(f.rootfs, 'tmp', `go-${b.id}`), '');
      assert.equal(await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid }), 0);
      assert.deepEqual(
        (await logLines(b.logPath)).map((l) => l.match(LOG_LINE)?.[4]),
        ['after'],
      );
      assert.deepEqual(
        (await logLines(`${b.logPath}.1`)).map((l) => l.match(LOG_LINE)?.[4]),
        ['before'],
      );
      await f.runtime.delete(b.id);
      await eventually(async () => ((await isAlive(c.conmonPid)) ? undefined : true), 'conmon to exit');
      await assert.rejects(
        Conmon.reopenLog(b.dir),
        (e: unknown) => isKind(e, 'FailedPrecondition') || isKind(e, 'NotFound'),
      );
    });

    it('applies cgroup limits from the spec and from update', async () => {
      const b = await f.bundle(['sleep', '1000'], (s) => {
        s.linux!.resources = { ...s.linux!.resources, memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 50 } };
      });
      const c = await f.createContainer(b);
      const mem = await controllerDir(b.cgroup, 'memory');
      assert.ok(mem);
      assert.equal((await fs.readFile(path.join(mem, 'memory.limit_in_bytes'), 'utf8')).trim(), String(64 << 20));
      const pidsDir = await controllerDir(b.cgroup, 'pids');
      assert.equal((await fs.readFile(path.join(pidsDir!, 'pids.max'), 'utf8')).trim(), '50');
      await f.runtime.start(b.id);
      await f.runtime.update(b.id, { memory: { limit: 128 * 1024 * 1024 } });
      assert.equal((await fs.readFile(path.join(mem, 'memory.limit_in_bytes'), 'utf8')).trim(), String(128 << 20));
      const stats = await readCgroupStats(b.cgroup);
      assert.ok((stats.memoryUsageBytes ?? 0) > 0);
      assert.equal(stats.pidsCurrent, 1);
      assert.ok(stats.cpuUsageNs !== undefined);
      assert.deepEqual(await f.runtime.ps(b.id), [c.pid]);
      await f.runtime.kill(b.id, 'KILL');
      await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid });
      assert.equal(await oomKilled(b.cgroup), false);
      await f.runtime.delete(b.id);
    });

    it('detects an OOM-killed container', async () => {
      const b = await f.bundle(['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=256M', 'count=1'], (s) => {
        s.linux!.resources = { ...s.linux!.resources, memory: { limit: 16 * 1024 * 1024, swap: 16 * 1024 * 1024 } };
      });
      const c = await f.createContainer(b);
      await f.runtime.start(b.id);
      assert.equal(await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid }), 137);
      // Before runc delete, which removes the cgroup and its counters.
      assert.equal(await oomKilled(b.cgroup), true);
      assert.equal(await Conmon.sawOom(b.dir), true);
      await f.runtime.delete(b.id);
    });

    if (runtimeKind === 'crun')
      it('runs crun in the v1 hierarchies, under cgroup1-view where the host needs it', async () => {
        const layout = await detectCgroups();
        const viewed = await hybridWithV2Controllers(layout);
        assert.equal(f.runtime.program, viewed ? nativeHelper('nsutil') : f.runtime.binary);
        const b = await f.bundle(['sh', '-c', 'cat /proc/self/cgroup; sleep 30'], (s) => {
          s.linux!.resources = { ...s.linux!.resources, memory: { limit: 48 * 1024 * 1024 } };
        });
        const c = await f.createContainer(b);
        await f.runtime.start(b.id);
        const lines = await eventually(async () => {
          const l = await logLines(b.logPath);
          return l.some((x) => x.includes('pids:')) || layout.mode === 'v2' ? l : undefined;
        }, "the container's cgroups in its log");
        if (layout.mode !== 'v2') {
          assert.ok(
            lines.some((l) => l.endsWith(`memory:/${b.cgroup}`)),
            lines.join('\n'),
          );
          const limit = await fs.readFile(
            path.join(layout.v1.get('memory')!, b.cgroup, 'memory.limit_in_bytes'),
            'utf8',
          );
          assert.equal(Number(limit), 48 * 1024 * 1024);
        }
        // The view's detach of cgroup2 stayed in crun's own mount namespace.
        assert.equal((await detectCgroups(true)).unified, layout.unified);
        await f.runtime.kill(b.id, 'KILL');
        await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid });
        await f.runtime.delete(b.id);
        for (const d of await cgroupDirs(b.cgroup)) await assert.rejects(fs.access(d));
      });

    if (runtimeKind === 'crun')
      it("starts, signals and deletes crun containers from crun's state, without a crun process", async () => {
        const b = await f.bundle(['sleep', '30']);
        const c = await f.createContainer(b);
        const stateDir = path.join(f.runtime.root, b.id);
        assert.equal((await f.runtime.state(b.id)).status, 'created');
        assert.equal(await crunStartFromState(f.runtime.root, b.id), true);
        await assert.rejects(fs.access(path.join(stateDir, 'exec.fifo')));
        assert.equal((await f.runtime.state(b.id)).status, 'running');
        // A running container is crun's to delete (it refuses); so is one it has no state for.
        assert.equal(await crunDeleteFromState(f.runtime.root, b.id), false);
        assert.equal(await crunDeleteFromState(f.runtime.root, 'nope'), 'absent');
        assert.equal(await crunKillFromState(f.runtime.root, b.id, 'TERM', true), false);
        assert.equal(await crunKillFromState(f.runtime.root, b.id, 'KILL', true), true);
        assert.equal(await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid }), 137);
        assert.equal(await crunKillFromState(f.runtime.root, b.id, 'KILL'), 'gone');
        assert.equal((await f.runtime.state(b.id)).status, 'stopped');
        assert.equal(await crunDeleteFromState(f.runtime.root, b.id), true);
        await assert.rejects(fs.access(stateDir));
        for (const d of await cgroupDirs(b.cgroup)) await assert.rejects(fs.access(d));
        await assert.rejects(f.runtime.state(b.id), (e: unknown) => isKind(e, 'NotFound'));

        // With a hook, crun runs them: nothing is done from the state.
        const h = await f.bundle(['true'], (s) => {
          s.hooks = { poststop: [{ path: '/bin/true' }] };
        });
        const hc = await f.createContainer(h);
        assert.equal(await crunStartFromState(f.runtime.root, h.id), false);
        await f.runtime.start(h.id);
        await f.conmon.waitExit(h.id, { conmonPid: hc.conmonPid });
        assert.equal(await crunDeleteFromState(f.runtime.root, h.id), false);
        await f.runtime.delete(h.id);
        await assert.rejects(fs.access(path.join(f.runtime.root, h.id)));
      });

    it('writes partial lines as P records and whole lines as F records, in local time with an offset', async () => {
      const b = await f.bundle(['sh', '-c', 'printf "one\\ntwo"; sleep 0.3; printf " three\\n"; printf "tail" >&2']);
      const c = await f.createContainer(b);
      await f.runtime.start(b.id);
      assert.equal(await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid }), 0);
      const recs = (await logLines(b.logPath)).map((l) => l.match(LOG_LINE));
      assert.ok(recs.every((m) => m !== null));
      const out = recs.filter((m) => m![2] === 'stdout').map((m) => `${m![3]} ${m![4]}`);
      assert.deepEqual(out, ['F one', 'P two', 'F  three']);
      assert.deepEqual(
        recs.filter((m) => m![2] === 'stderr').map((m) => `${m![3]} ${m![4]}`),
        ['P tail'],
      );
      // conmon's timestamps: nanoseconds and a numeric offset from local time (never "Z").
      assert.ok(recs.every((m) => /\.\d{9}[+-]\d\d:\d\d$/.test((m![0] ?? '').split(' ')[0]!)));
      await f.runtime.delete(b.id);
    });

    it('logs a read made of thousands of empty lines as one record each', async () => {
      // 2^15 newlines written as fast as the shell can: the monitor's reads (8 KiB) are all record headers,
      // ~45 bytes of log per byte read.
      const b = await f.bundle([
        'sh',
        '-c',
        's="\n"; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do s="$s$s"; done; printf "%s" "$s"; echo last',
      ]);
      const c = await f.createContainer(b);
      await f.runtime.start(b.id);
      assert.equal(await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid }), 0);
      const recs = (await logLines(b.logPath)).map((l) => l.match(LOG_LINE));
      assert.equal(recs.length, 32769);
      assert.ok(recs.every((m) => m !== null && m[2] === 'stdout' && m[3] === 'F'));
      assert.equal(recs.filter((m) => m![4] === '').length, 32768);
      assert.equal(recs.at(-1)![4], 'last');
      await f.runtime.delete(b.id);
    });

    it('truncates the log past --log-size-max, keeping the newest records', async () => {
      const b = await f.bundle(['sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line-$i; sleep 0.02; done']);
      const c = await f.createContainer(b, { logSizeMax: 200 });
      await f.runtime.start(b.id);
      assert.equal(await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid }), 0);
      const text = await fs.readFile(b.logPath, 'utf8');
      assert.ok(text.length <= 200, `log of ${text.length} bytes`);
      const lines = (await logLines(b.logPath)).map((l) => l.match(LOG_LINE)?.[4]);
      assert.ok(lines.length > 0 && lines.length < 12, lines.join(','));
      assert.equal(lines.at(-1), 'line-12');
      assert.ok(!lines.includes('line-1'));
      await f.runtime.delete(b.id);
    });

    it('serves the attach socket: output to every client, stdin from a client, stdin_once', async () => {
      const b = await f.bundle(['sh', '-c', 'echo ready; read x; echo got-$x; cat; echo done']);
      const c = await f.createContainer(b, { stdin: true, stdinOnce: true });
      const resize = async () => {};
      const one = await attachSession({ id: b.id, socket: c.attachSocket, stdin: true, resize });
      // With stdin too: a client without input would end the container's stdin at once (stdin_once).
      const two = await attachSession({ id: b.id, socket: c.attachSocket, stdin: true, resize });
      const collect = (s: NodeJS.ReadableStream) => {
        const parts: Buffer[] = [];
        s.on('data', (d: Buffer) => parts.push(d));
        return () => Buffer.concat(parts).toString();
      };
      const out1 = collect(one.stdout);
      const out2 = collect(two.stdout);
      await f.runtime.start(b.id);
      await eventually(async () => (out1().includes('ready') && out2().includes('ready') ? true : undefined), 'ready');
      one.stdin!.write('abc\n');
      await eventually(async () => (out2().includes('got-abc') ? true : undefined), 'echo of stdin');
      one.stdin!.write('more\n');
      one.stdin!.end(); // stdin_once: the container's stdin ends with this client's input
      assert.equal(await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid }), 0);
      await Promise.all([one.done, two.done]);
      await two.close();
      assert.equal(out1(), 'ready\ngot-abc\nmore\ndone\n');
      assert.equal(out2(), out1());
      assert.deepEqual(
        (await logLines(b.logPath)).map((l) => l.match(LOG_LINE)?.[4]),
        ['ready', 'got-abc', 'more', 'done'],
      );
      await f.runtime.delete(b.id);
    });

    it('keeps stdin open across attach sessions with --leave-stdin-open', async () => {
      const b = await f.bundle(['sh', '-c', 'read a; echo got-$a; read b; echo $a-$b']);
      const c = await f.createContainer(b, { stdin: true, stdinOnce: false });
      await f.runtime.start(b.id);
      const resize = async () => {};
      const first = await attachSession({ id: b.id, socket: c.attachSocket, stdin: true, resize });
      let seen = '';
      first.stdout.on('data', (d: Buffer) => {
        seen += d.toString();
      });
      first.stdin!.write('x\n');
      // conmon may drop a packet that arrives together with the client's hang-up: leave only once it was read.
      await eventually(async () => (seen.includes('got-x') ? true : undefined), 'the first line read');
      first.stdin!.end();
      await first.close();
      const second = await attachSession({ id: b.id, socket: c.attachSocket, stdin: true, resize });
      second.stdin!.write('y\n');
      assert.equal(await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid }), 0);
      await second.close();
      assert.deepEqual(
        (await logLines(b.logPath)).map((l) => l.match(LOG_LINE)?.[4]),
        ['got-x', 'x-y'],
      );
      await f.runtime.delete(b.id);
    });

    it('runs with a terminal and resizes it through the control fifo', async () => {
      const b = await f.bundle(['sh', '-c', 'while ! test -e /tmp/go-$0; do sleep 0.05; done; stty size'], (s) => {
        s.process!.terminal = true;
      });
      b.spec.process!.args!.push(b.id);
      await fs.writeFile(path.join(b.dir, 'config.json'), JSON.stringify(b.spec));
      const c = await f.createContainer(b, { terminal: true });
      await f.runtime.start(b.id);
      await Conmon.resizeTerminal(b.dir, 31, 97);
      // The fifo is read asynchronously: give the monitor its turn before the container asks.
      await new Promise((r) => setTimeout(r, 200));
      await fs.writeFile(path.join(f.rootfs, 'tmp', `go-${b.id}`), '');
      assert.equal(await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid }), 0);
      // The terminal ends lines with \r\n.
      const out = (await logLines(b.logPath)).map((l) => l.replace(/\r$/, '').match(LOG_LINE));
      assert.ok(out.every((m) => m !== null && m[2] === 'stdout'));
      assert.deepEqual(
        out.map((m) => m![4]!.trim()),
        ['31 97'],
      );
      await f.runtime.delete(b.id);
    });

    it('passes SIGTERM on to the container and survives it', async () => {
      const b = await f.bundle(['sh', '-c', 'trap "exit 9" TERM; sleep 1000 & wait']);
      const c = await f.createContainer(b);
      await f.runtime.start(b.id);
      await eventually(async () => ((await f.runtime.ps(b.id)).length >= 2 ? true : undefined), 'sleep child');
      process.kill(c.conmonPid, 'SIGTERM');
      assert.equal(await f.conmon.waitExit(b.id, { conmonPid: c.conmonPid }), 9);
      await f.runtime.delete(b.id);
    });
    it('hands restores to conmon, which shares the exit and socket directories', async () => {
      const cm = await f.conmon.conmon();
      assert.equal(cm.monitor, 'conmon');
      assert.equal(cm.exitDir, f.conmon.exitDir);
      assert.equal(cm.socketDir, f.conmon.socketDir);
      assert.equal(cm === f.conmon, monitor === 'conmon');
      // No checkpoint here: runc restore fails, and the error is conmon's report of CRIU's failure, not a refusal
      // of --restore by the native monitor.
      const b = await f.bundle(['true']);
      const work = path.join(b.dir, 'work');
      await fs.mkdir(work);
      await assert.rejects(
        f.conmon.create({
          id: b.id,
          bundle: b.dir,
          logPath: b.logPath,
          restore: { imagePath: path.join(b.dir, 'no-images'), workPath: work },
        }),
        (e: unknown) => {
          assert.ok(isKind(e, 'FailedPrecondition'), String(e));
          assert.doesNotMatch((e as Error).message, /not supported/);
          return true;
        },
      );
      await assert.rejects(f.runtime.state(b.id), (e: unknown) => isKind(e, 'NotFound'));
    });
  });
}

describe('ucri monitor command line', () => {
  it('refuses what it does not implement, with a message', async () => {
    const bin = nativeHelper('monitor');
    assert.ok(bin, 'dist/native/monitor is built');
    const base = ['--api-version', '1', '-c', 'x', '-r', '/bin/true', '-b', '/tmp', '-p', '/tmp/p', '-P', '/tmp/P'];
    for (const extra of [['--exec'], ['--restore', '/tmp/img'], ['--sync'], ['-l', 'journald:'], ['--bogus']]) {
      const r = await run(bin, [...base, '-l', 'k8s-file:/tmp/log', '--exit-dir', '/tmp', '--full-attach', ...extra], {
        allowFailure: true,
      });
      assert.equal(r.code, 1, extra.join(' '));
      assert.match(r.stderr, /^monitor: .*(not supported|one --log-path)/, extra.join(' '));
    }
    const noAttach = await run(bin, [...base, '-l', '/tmp/log', '--exit-dir', '/tmp'], { allowFailure: true });
    assert.equal(noAttach.code, 1);
    assert.match(noAttach.stderr, /--full-attach is required/);
  });
});
