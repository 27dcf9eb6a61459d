/**
 * Images without a registry, through a real `ucri serve`: Mesos `--docker_registry=<dir>` holding a legacy
 * `docker save` archive, an OCI archive and an OCI layout directory, and the appc store with simple
 * discovery over `file://`, serving an ACI built here from the host's busybox.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { BUSYBOX_PATH } from '../../hack/images/index.js';
import { type CriClient, grpc, statusOf } from '../support/cri-client.js';
import { startDaemon, type TestDaemon } from '../support/daemon.js';
import { fixtureArchives, type FixtureName, type LocalFixture } from '../support/images.js';
import { packTar } from '../unit/image/tar-fixtures.js';

const run = promisify(execFile);
const spec = (image: string) => ({ image, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' });

/** A gzip ACI of busybox: manifest + rootfs/bin/{busybox,sh}. */
async function writeAci(file: string): Promise<void> {
  const manifest = {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: 'example.com/busybox',
    labels: [
      { name: 'version', value: '1.0' },
      { name: 'os', value: 'linux' },
      { name: 'arch', value: 'amd64' },
    ],
    app: {
      exec: ['/bin/sh', '-c', 'echo hi'],
      user: '1000',
      group: '1000',
      workingDirectory: '/tmp',
      environment: [{ name: 'GREETING', value: 'hello' }],
    },
  };
  const tar = await packTar([
    { name: 'manifest', content: JSON.stringify(manifest) },
    { name: 'rootfs', type: 'directory', mode: 0o755 },
    { name: 'rootfs/bin', type: 'directory', mode: 0o755 },
    { name: 'rootfs/bin/busybox', content: await fs.readFile(BUSYBOX_PATH), mode: 0o755 },
    { name: 'rootfs/bin/sh', type: 'symlink', linkname: 'busybox' },
    { name: 'rootfs/tmp', type: 'directory', mode: 0o1777 },
  ]);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, gzipSync(tar));
}

describe('local images: docker save, OCI, appc', () => {
  let tmp: string;
  let fx: Record<FixtureName, LocalFixture>;
  let d: TestDaemon;
  let c: CriClient;
  const storeDir = () => path.join(d.workDir, 'store', 'docker');

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-local-images-'));
    fx = await fixtureArchives();
    const local = path.join(tmp, 'images');
    await fs.mkdir(local);
    await fs.copyFile(fx.busybox.paths.mesosArchive, path.join(local, 'busybox:latest.tar'));
    await fs.copyFile(fx['busybox-layers'].paths.ociArchive, path.join(local, 'layered:latest.tar'));
    await run('cp', ['-r', fx['busybox-env'].paths.ociLayout, path.join(local, 'layout:v1')]);
    await writeAci(path.join(tmp, 'aci', 'example.com', 'busybox-1.0-linux-amd64.aci'));
    d = await startDaemon({
      flags: [`--docker_registry=${local}`, `--appc_simple_discovery_uri_prefix=file://${tmp}/aci/`],
    });
    c = d.client();
  });
  after(async () => {
    await d?.stop();
    await d?.cleanup();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  const pull = async (image: string) =>
    (await c.image.pullImage({ image: spec(image), auth: undefined, sandboxConfig: undefined })).imageRef;

  it('loads a legacy docker save archive named <repo>:<tag>.tar', async () => {
    assert.equal(await pull('busybox'), fx.busybox.configDigest);
    const st = await c.image.imageStatus({ image: spec('docker.io/library/busybox:latest'), verbose: false });
    assert.deepEqual(st.image?.repoTags, ['docker.io/library/busybox:latest']);
    assert.ok((st.image?.size ?? 0n) > 0n);
  });

  it('loads an OCI archive, whiteouts converted for overlay', async () => {
    assert.equal(await pull('layered'), fx['busybox-layers'].configDigest);
    const layers = fx['busybox-layers'].layers;
    const top = path.join(storeDir(), 'layers', layers[3]!.diffId.slice(7), 'rootfs', 'data', 'layer4.txt');
    assert.equal(await fs.readFile(top, 'utf8'), 'uncompressed layer\n');
    const wh = await fs.lstat(
      path.join(storeDir(), 'layers', layers[2]!.diffId.slice(7), 'rootfs', 'data', 'remove-me.txt'),
    );
    assert.ok(wh.isCharacterDevice(), 'whiteout as a 0/0 char device');
  });

  it('loads an OCI layout directory', async () => {
    assert.equal(await pull('layout:v1'), fx['busybox-env'].configDigest);
  });

  it('answers NOT_FOUND for an image the directory lacks', async () => {
    await assert.rejects(pull('nothere'), (err: unknown) => {
      assert.equal(statusOf(err), grpc.status.NOT_FOUND);
      assert.match((err as Error).message, /nothere/);
      return true;
    });
  });

  it('pulls an ACI by simple discovery and reports its manifest', async () => {
    const id = await pull('appc:example.com/busybox:1.0');
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    const st = await c.image.imageStatus({ image: spec('appc:example.com/busybox:1.0'), verbose: true });
    assert.equal(st.image?.id, id);
    assert.deepEqual(st.image?.repoTags, ['appc:example.com/busybox:1.0']);
    assert.equal(st.image?.uid?.value, 1000n);
    const info = JSON.parse(st.info.info ?? '{}') as {
      kind: string;
      config: { entrypoint: string[]; env: string[]; workingDir: string };
      layers: string[];
    };
    assert.equal(info.kind, 'appc');
    assert.deepEqual(info.config.entrypoint, ['/bin/sh', '-c', 'echo hi']);
    assert.deepEqual(info.config.env, ['GREETING=hello']);
    assert.equal(info.config.workingDir, '/tmp');
    const rootfs = path.join(storeDir(), 'layers', info.layers[0]!.slice(7), 'rootfs');
    assert.equal(await fs.readlink(path.join(rootfs, 'bin', 'sh')), 'busybox');
    assert.equal((await fs.stat(path.join(rootfs, 'tmp'))).mode & 0o7777, 0o1777);
    await assert.rejects(
      pull('appc:example.com/nothere:1.0'),
      (err: unknown) => statusOf(err) === grpc.status.NOT_FOUND,
    );
  });
});
