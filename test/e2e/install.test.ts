/**
 * `make install` / `make uninstall` into a temporary DESTDIR: the launcher runs `ucri version` and serves the
 * CRI from the installed tree (with the installed config.toml), the systemd unit lets containers survive a
 * restart, and uninstall leaves no file behind. The build itself is the one the tests run from (`-o build`).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { startDaemon, type TestDaemon } from '../support/daemon.js';

const run = promisify(execFile);
/** The repository, from dist/test/e2e. */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const PREFIX = '/usr/local';

async function make(target: string, destdir: string): Promise<string> {
  const { stdout } = await run('make', ['-s', '-C', REPO, '-o', 'build', target, `DESTDIR=${destdir}`], {
    maxBuffer: 16 << 20,
  });
  return stdout;
}

/** Every non-directory path under `dir`, relative. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isDirectory()) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  }
  return out;
}

describe('make install and make uninstall (e2e)', () => {
  let dest: string;
  let daemon: TestDaemon | undefined;
  const bin = (): string => path.join(dest, PREFIX, 'bin/ucri');
  before(async () => {
    dest = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-install-'));
    await make('install', dest);
  });
  after(async () => {
    await daemon?.cleanup();
    await fs.rm(dest, { recursive: true, force: true });
  });

  it('puts an executable ucri launcher that runs the installed build', async () => {
    await fs.access(bin(), fs.constants.X_OK);
    const { stdout } = await run(bin(), ['version']);
    assert.match(stdout, /^ucri \d+\.\d+\.\d+ \(CRI runtime\.v1\)\n$/);
    const launcher = await fs.readFile(bin(), 'utf8');
    assert.match(launcher, /--max-semi-space-size=1/, 'the daemon runs with its node flags');
    assert.match(launcher, /lib\/ucri\/dist\/bundle\/ucri\/main\.js/);
    await fs.access(path.join(dest, PREFIX, 'lib/ucri/node_modules/@grpc/grpc-js/package.json'));
    await assert.rejects(fs.access(path.join(dest, PREFIX, 'lib/ucri/node_modules/typescript')), 'no dev deps');
  });

  it('installs a unit whose restart leaves containers running', async () => {
    const unit = await fs.readFile(path.join(dest, PREFIX, 'lib/systemd/system/ucri.service'), 'utf8');
    const lines = unit.split('\n');
    for (const want of [`ExecStart=${PREFIX}/bin/ucri serve`, 'KillMode=process', 'Delegate=yes']) {
      assert.ok(lines.includes(want), `unit has ${want}`);
    }
    assert.ok(!unit.includes('@'), 'every placeholder is filled in');
  });

  it('serves the CRI from the installed tree with the installed config.toml', async () => {
    const config = await fs.readFile(path.join(dest, 'etc/ucri/config.toml'), 'utf8');
    assert.equal(config, await fs.readFile(path.join(REPO, 'packaging/config.toml'), 'utf8'));
    daemon = await startDaemon({ program: bin(), configToml: config });
    const c = daemon.client();
    const v = await c.runtime.version({ version: 'v1' });
    assert.equal(v.runtimeName, 'ucri');
    assert.equal(await daemon.stop(), 0);
    await daemon.cleanup();
    daemon = undefined;
  });

  it('keeps an edited config.toml on uninstall, and removes everything else', async () => {
    const conf = path.join(dest, 'etc/ucri/config.toml');
    await fs.appendFile(conf, 'log_level = "debug"\n');
    await make('uninstall', dest);
    assert.deepEqual(await filesUnder(dest), ['etc/ucri/config.toml']);
    // Reinstalling keeps the edit too; a pristine config goes with the rest.
    await make('install', dest);
    assert.match(await fs.readFile(conf, 'utf8'), /log_level = "debug"\n$/);
    await fs.copyFile(path.join(REPO, 'packaging/config.toml'), conf);
    await make('uninstall', dest);
    assert.deepEqual(await filesUnder(dest), [], 'nothing left');
  });
});
