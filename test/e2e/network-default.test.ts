/**
 * `ucri serve --install-default-network`: on an empty CNI config dir the daemon writes its bridge + portmap
 * network and reports NetworkReady at once; a dir that already has a usable network is left alone.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, it } from 'node:test';
import { unmountAllUnder } from '../../pkg/sys/index.js';
import { startDaemon, type TestDaemon } from '../support/daemon.js';

let d: TestDaemon | undefined;

after(async () => {
  await d?.stop();
  // The daemon leaves its namespace pin root mounted for a successor; nothing succeeds it here.
  if (d) await unmountAllUnder(d.root, { lazy: true });
  await d?.cleanup();
});

it('installs the default network when the config dir is empty, and only then', async () => {
  d = await startDaemon({ flags: ['--install-default-network'] });
  const file = path.join(d.cniConfigDir, '10-ucri.conflist');
  const conf = JSON.parse(await fs.readFile(file, 'utf8')) as {
    cniVersion: string;
    name: string;
    plugins: Array<{ type: string; bridge?: string; ipam?: { ranges: Array<Array<{ subnet: string }>> } }>;
  };
  assert.equal(conf.cniVersion, '1.0.0');
  assert.deepEqual(conf.plugins.map((p) => p.type).slice(0, 2), ['bridge', 'portmap']);
  assert.equal(conf.plugins[0]!.bridge, 'ucri0');
  assert.match(conf.plugins[0]!.ipam!.ranges[0]![0]!.subnet, /^(10|172)\.\d+\.0\.0\/16$/);
  const st = await d.client().runtime.status({ verbose: false });
  assert.equal(st.status?.conditions.find((x) => x.type === 'NetworkReady')?.status, true);
  await d.stop();

  // With the file in place (and edited by the admin), a restart keeps it as it is.
  const edited = JSON.stringify({ ...conf, name: 'admin-edited' });
  await fs.writeFile(file, edited);
  d = await startDaemon({ root: d.root, flags: ['--install-default-network'] });
  assert.equal(await fs.readFile(file, 'utf8'), edited);
});
