/** Pure parsers of pkg/sys: mountinfo, /proc stat, cgroup layout and files. No root needed. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  escapeMountPath,
  layoutFromMounts,
  parseKeyValues,
  parseMountInfo,
  parseProcCgroup,
  parseProcStat,
  sharesToWeight,
  unescapeMountPath,
  validateCgroupPath,
} from '../../../pkg/sys/index.js';
import { isKind } from '../../../pkg/util/index.js';

const HYBRID = `27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime master:7 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
50 27 0:40 /sub /mnt/with\\040space\\011tab rw shared:5 master:3 propagate_from:2 unbindable - overlay over\\134lay rw,lowerdir=a:b
`;

describe('parseMountInfo', () => {
  const m = parseMountInfo(HYBRID);
  it('reads every field', () => {
    assert.equal(m.length, 7);
    const root = m[0]!;
    assert.deepEqual(
      [root.id, root.parentId, root.major, root.minor, root.root, root.mountPoint, root.fsType, root.source],
      [27, 1, 254, 0, '/', '/', 'ext4', '/dev/vda'],
    );
    assert.deepEqual(root.options, ['rw', 'relatime']);
    assert.equal(root.propagation.shared, 1);
  });
  it('handles escapes, several optional fields and none', () => {
    const o = m[6]!;
    assert.equal(o.mountPoint, '/mnt/with space\ttab');
    assert.equal(o.source, 'over\\lay');
    assert.equal(o.root, '/sub');
    assert.deepEqual(o.propagation, { shared: 5, master: 3, propagateFrom: 2, unbindable: true });
    assert.deepEqual(o.superOptions, ['rw', 'lowerdir=a:b']);
    assert.deepEqual(m[1]!.optionalFields, []);
    assert.equal(m[2]!.propagation.master, 7);
  });
  it('rejects malformed lines', () => {
    assert.throws(
      () => parseMountInfo('1 2 3'),
      (e: unknown) => isKind(e, 'InvalidArgument'),
    );
  });
  it('unescapes octal sequences only', () => {
    assert.equal(unescapeMountPath('a\\040b\\012c\\\\d'), 'a b\nc\\\\d');
  });
  it('escapes as the kernel does, and back', () => {
    const odd = '/mnt/with space\ttab\nnl\\back';
    assert.equal(escapeMountPath(odd), '/mnt/with\\040space\\011tab\\012nl\\134back');
    assert.equal(unescapeMountPath(escapeMountPath(odd)), odd);
    assert.equal(escapeMountPath('/plain/path'), '/plain/path');
  });
  it('parses only the lines that contain the given text', () => {
    const some = parseMountInfo(HYBRID, '/sys/fs/cgroup/');
    assert.deepEqual(
      some.map((x) => x.mountPoint),
      ['/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/memory', '/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified'],
    );
    const escaped = parseMountInfo(HYBRID, escapeMountPath('/mnt/with space\ttab'));
    assert.deepEqual(escaped, [m[6]]);
    assert.deepEqual(parseMountInfo(HYBRID, '/nowhere'), []);
    // A malformed line is skipped when it does not contain the text, and still rejected when it does.
    assert.deepEqual(parseMountInfo(`1 2 3\n${HYBRID}`, '/sys/fs/cgroup/memory').length, 1);
    assert.throws(
      () => parseMountInfo('1 2 /sys/fs/cgroup/memory', '/sys/fs/cgroup/memory'),
      (e: unknown) => isKind(e, 'InvalidArgument'),
    );
  });
});

describe('cgroup layout', () => {
  it('recognises hybrid, v1 and v2 hosts', () => {
    const hybrid = layoutFromMounts(parseMountInfo(HYBRID));
    assert.equal(hybrid.mode, 'hybrid');
    assert.equal(hybrid.v1.get('cpu'), '/sys/fs/cgroup/cpu,cpuacct');
    assert.equal(hybrid.v1.get('cpuacct'), '/sys/fs/cgroup/cpu,cpuacct');
    assert.equal(hybrid.v1.get('name=systemd'), '/sys/fs/cgroup/systemd');
    assert.equal(hybrid.unified, '/sys/fs/cgroup/unified');
    const v1 = layoutFromMounts(
      parseMountInfo(
        HYBRID.split('\n')
          .filter((l) => !l.includes('cgroup2'))
          .join('\n'),
      ),
    );
    assert.equal(v1.mode, 'v1');
    const v2 = layoutFromMounts(parseMountInfo('30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n'));
    assert.deepEqual([v2.mode, v2.unified, v2.v1.size], ['v2', '/sys/fs/cgroup', 0]);
  });
  it('converts shares to weight like runc', () => {
    assert.equal(sharesToWeight(2), 1);
    assert.equal(sharesToWeight(262144), 10000);
    assert.equal(sharesToWeight(1024), 39);
    assert.equal(sharesToWeight(0), 100);
  });
  it('validates cgroup paths', () => {
    assert.equal(validateCgroupPath('/ucri/abc'), 'ucri/abc');
    for (const bad of ['', '/', 'a/../b', 'a//b', 'a/./b', 'a b', 'x\n']) {
      assert.throws(
        () => validateCgroupPath(bad),
        (e: unknown) => isKind(e, 'InvalidArgument'),
        bad,
      );
    }
  });
  it('parses key/value files and /proc/<pid>/cgroup', () => {
    const kv = parseKeyValues('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    assert.equal(kv.get('oom_kill'), 2);
    const pc = parseProcCgroup('12:cpu,cpuacct:/ucri/a\n1:name=systemd:/x\n0::/ucri/a\n');
    assert.equal(pc.get('cpu'), '/ucri/a');
    assert.equal(pc.get('cpuacct'), '/ucri/a');
    assert.equal(pc.get('name=systemd'), '/x');
    assert.equal(pc.get(''), '/ucri/a');
  });
});

describe('parseProcStat', () => {
  it('survives spaces and parentheses in comm', () => {
    const fields = Array.from({ length: 50 }, (_v, i) => String(i + 3));
    fields[0] = 'S';
    fields[1] = '1';
    fields[19] = '123456';
    const st = parseProcStat(`42 (a) b (c)) ${fields.join(' ')}\n`);
    assert.deepEqual([st.pid, st.comm, st.state, st.ppid, st.startTime], [42, 'a) b (c)', 'S', 1, 123456n]);
  });
  it('rejects garbage', () => {
    assert.throws(
      () => parseProcStat('nonsense'),
      (e: unknown) => isKind(e, 'InvalidArgument'),
    );
  });
});
