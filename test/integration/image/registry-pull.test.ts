/**
 * Against a real Distribution registry (Debian `docker-registry`) on 127.0.0.1: an OCI image written by the
 * test is pushed with skopeo, then resolved, its layers fetched and verified, and applied with ucri's code,
 * also through a mirror configuration that serves a foreign registry name from the local registry.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import {
  applyLayer,
  HttpAgents,
  MediaType,
  parseReference,
  RegistryClient,
  resolveImage,
} from '../../../pkg/image/index.js';
import { configureLogging } from '../../../pkg/util/index.js';
import { gzip, packTar, zstd } from '../../unit/image/tar-fixtures.js';

configureLogging({ silent: true });
const run = promisify(execFile);
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let tmp: string;
let registry: ChildProcess | undefined;
let port = 0;
const agent = new Agent();
const agents = new HttpAgents();

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const p = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return p;
}

async function waitReady(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (registry?.exitCode !== null) throw new Error('docker-registry exited');
    try {
      const res = await request(`http://127.0.0.1:${port}/v2/`, { dispatcher: agent });
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('docker-registry did not become ready');
}

/** Writes an OCI layout with two layers (gzip and zstd) and pushes it as `test/app:v1`. */
async function pushImage(): Promise<{ diffIds: string[] }> {
  const layout = path.join(tmp, 'layout');
  const blobs = path.join(layout, 'blobs', 'sha256');
  await fs.mkdir(blobs, { recursive: true });
  const put = async (b: Buffer) => {
    await fs.writeFile(path.join(blobs, sha(b).slice(7)), b);
    return { digest: sha(b), size: b.length };
  };
  const tar1 = await packTar([
    { name: 'bin/', type: 'directory', mode: 0o755 },
    { name: 'bin/tool', content: 'tool', mode: 0o4755, uid: 0 },
    { name: 'etc/gone', content: 'x' },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
  ]);
  const tar2 = await packTar([{ name: 'etc/.wh.gone' }, { name: 'etc/new', content: 'new', uid: 1002, gid: 1003 }]);
  const l1 = await put(gzip(tar1));
  const l2 = await put(zstd(tar2));
  const diffIds = [sha(tar1), sha(tar2)];
  const config = await put(
    Buffer.from(
      JSON.stringify({
        architecture: process.arch === 'x64' ? 'amd64' : process.arch,
        os: 'linux',
        config: { Entrypoint: ['/bin/tool'], Env: ['A=b'], User: '1002' },
        rootfs: { type: 'layers', diff_ids: diffIds },
      }),
    ),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, ...config },
      layers: [
        { mediaType: MediaType.OciLayerGzip, ...l1 },
        { mediaType: MediaType.OciLayerZstd, ...l2 },
      ],
    }),
  );
  const m = await put(manifest);
  await fs.writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await fs.writeFile(
    path.join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        { mediaType: MediaType.OciManifest, ...m, annotations: { 'org.opencontainers.image.ref.name': 'v1' } },
      ],
    }),
  );
  await run('skopeo', [
    '--insecure-policy',
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    `oci:${layout}:v1`,
    `docker://127.0.0.1:${port}/test/app:v1`,
  ]);
  return { diffIds };
}

describe('pull from a real registry', () => {
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-reg-'));
    port = await freePort();
    const config = path.join(tmp, 'config.yml');
    await fs.writeFile(
      config,
      [
        'version: 0.1',
        'log: { level: error }',
        `storage: { filesystem: { rootdirectory: ${path.join(tmp, 'storage')} } }`,
        `http: { addr: "127.0.0.1:${port}" }`,
        '',
      ].join('\n'),
    );
    registry = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
    await waitReady();
  });

  after(async () => {
    if (registry?.pid !== undefined && registry.exitCode === null) {
      const exited = new Promise((resolve) => registry?.once('exit', resolve));
      process.kill(registry.pid, 'SIGTERM');
      await exited;
    }
    await agent.close();
    agents.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('resolves, fetches and applies a gzip + zstd image, directly and through a mirror', async () => {
    const { diffIds } = await pushImage();
    for (const [name, opts] of [
      [`127.0.0.1:${port}/test/app:v1`, {}],
      ['registry.k8s.io/test/app:v1', { mirrors: { 'registry.k8s.io': { endpoints: [`127.0.0.1:${port}`] } } }],
    ] as const) {
      const client = new RegistryClient({ agents, ...opts });
      const ref = parseReference(name);
      const img = await resolveImage(client, ref);
      assert.deepEqual(img.config.entrypoint, ['/bin/tool']);
      assert.deepEqual(img.config.diffIds, diffIds);
      const rootfs = await fs.mkdtemp(path.join(tmp, 'rootfs-'));
      for (const [i, layer] of img.layers.entries()) {
        const blob = await client.fetchBlob(ref, layer);
        const result = await applyLayer(blob, rootfs, { format: 'plain', diffId: img.config.diffIds[i] });
        assert.equal(result.diffId, diffIds[i]);
        assert.equal(result.compression, i === 0 ? 'gzip' : 'zstd');
      }
      assert.equal((await fs.stat(path.join(rootfs, 'bin/tool'))).mode & 0o7777, 0o4755);
      assert.ok((await fs.lstat(path.join(rootfs, 'dev/null'))).isCharacterDevice());
      assert.deepEqual((await fs.readdir(path.join(rootfs, 'etc'))).sort(), ['new']);
      assert.equal((await fs.stat(path.join(rootfs, 'etc/new'))).uid, 1002);
    }
  });
});
