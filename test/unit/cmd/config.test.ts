import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig, parseFlags, serveHelp, SERVE_FLAGS } from '../../../cmd/ucri/config.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ucri-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const noFile = { config: file('empty.toml', '') };

describe('config', () => {
  it('has the documented defaults', () => {
    const c = loadConfig(noFile, {});
    assert.equal(c.socket, '/run/ucri/ucri.sock');
    assert.equal(c.work_dir, '/var/lib/ucri');
    assert.equal(c.runtime_dir, '/run/ucri');
    assert.equal(c.network_cni_config_dir, '/etc/cni/net.d');
    assert.equal(c.network_cni_plugins_dir, '/usr/lib/cni:/opt/cni/bin');
    assert.equal(c.docker_socket, '/var/run/docker.sock');
    assert.equal(c.image_provisioner_backend, 'overlay');
    assert.deepEqual(c.containerizers, ['mesos']);
    assert.ok(c.isolation.includes('filesystem/linux'));
  });

  it('lets flags override the file, in both spellings', () => {
    const cfg = file(
      'a.toml',
      'work_dir = "/srv/ucri"\nruntime_dir = "/run/x"\nisolation = "filesystem/linux,docker/runtime"\n',
    );
    const c = loadConfig(parseFlags([`--config=${cfg}`, '--work-dir', '/data/ucri', '--socket=/tmp/u.sock']), {});
    assert.equal(c.work_dir, '/data/ucri');
    assert.equal(c.runtime_dir, '/run/x');
    assert.equal(c.socket, '/tmp/u.sock');
    assert.deepEqual(c.isolation, ['filesystem/linux', 'docker/runtime']);
  });

  it('reads registry mirrors as air-gapped users configure them', () => {
    const cfg = file(
      'm.toml',
      '[registry.mirrors."registry.k8s.io"]\nendpoints = ["http://127.0.0.1:5000"]\n[registry]\ninsecure = ["10.0.0.1:5000"]\n',
    );
    const c = loadConfig({ config: cfg }, {});
    assert.deepEqual(c.registry.mirrors['registry.k8s.io'], { endpoints: ['http://127.0.0.1:5000'] });
    assert.deepEqual(c.registry.insecure, ['10.0.0.1:5000']);
  });

  it('rejects unknown keys, bad values and unknown flags with the name in the message', () => {
    assert.throws(() => loadConfig({ config: file('u.toml', 'wrok_dir = "/x"\n') }, {}), /unknown key\(s\) "wrok_dir"/);
    assert.throws(() => loadConfig({ ...noFile, work_dir: 'relative' }, {}), /work_dir: must be an absolute path/);
    assert.throws(() => loadConfig({ ...noFile, image_provisioner_backend: 'aufs' }, {}), /aufs is not available/);
    assert.throws(() => loadConfig({ ...noFile, streaming_port: '70000' }, {}), /streaming_port/);
    assert.throws(() => loadConfig({ ...noFile, containerizers: 'lxc' }, {}), /containerizers/);
    assert.throws(
      () => parseFlags(['--no-such-flag=1']),
      (e: unknown) => e instanceof ConfigError && /no-such-flag|no_such_flag/.test(e.message),
    );
    assert.throws(() => parseFlags(['--socket']), /needs a value/);
    assert.throws(() => parseFlags(['--socket=/a', '--socket=/b']), /given twice/);
    assert.throws(() => loadConfig({ config: file('bad.toml', 'work_dir = \n') }, {}), /not valid TOML/);
    assert.throws(() => loadConfig({ config: path.join(dir, 'missing.toml') }, {}), /cannot read config file/);
  });

  it('reads image_pull_progress_timeout as a duration, 5 min by default as in containerd', () => {
    assert.equal(loadConfig(noFile, {}).image_pull_progress_timeout, 300_000);
    assert.equal(
      loadConfig({ ...noFile, image_pull_progress_timeout: '1m30s' }, {}).image_pull_progress_timeout,
      90_000,
    );
    assert.equal(loadConfig({ ...noFile, image_pull_progress_timeout: '0' }, {}).image_pull_progress_timeout, 0);
    const cfg = file('t.toml', 'image_pull_progress_timeout = "750ms"\n');
    assert.equal(loadConfig({ config: cfg }, {}).image_pull_progress_timeout, 750);
    assert.equal(
      loadConfig({ config: file('n.toml', 'image_pull_progress_timeout = 20\n') }, {}).image_pull_progress_timeout,
      20_000,
    );
    assert.throws(
      () => loadConfig({ ...noFile, image_pull_progress_timeout: 'soon' }, {}),
      /image_pull_progress_timeout: invalid duration "soon"/,
    );
  });

  it('documents every flag in --help', () => {
    const help = serveHelp();
    for (const f of SERVE_FLAGS) assert.ok(help.includes(`--${f.key}`), f.key);
  });

  it('takes the trace list from UCRI_TRACE when no flag sets it', () => {
    assert.equal(loadConfig(noFile, { UCRI_TRACE: 'cri' }).trace, 'cri');
    assert.equal(loadConfig({ ...noFile, trace: 'mesos/*' }, { UCRI_TRACE: 'cri' }).trace, 'mesos/*');
  });
});
