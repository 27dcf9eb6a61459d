/**
 * Pull throughput: the `large` fixture (busybox base + 8 layers × 8 MiB of incompressible data) pushed to a
 * local Distribution registry started here, pulled into a fresh store through a fresh `ucri serve`'s CRI
 * PullImage (download, verification and extraction), beside `skopeo copy docker://… dir:…` of the same
 * image (download and verification only, no extraction). Prints MiB/s of both and their ratio.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ImageServiceClient, type PullImageResponse } from '../../pkg/cri/gen/cri/v1/api.js';
import { unmountAllUnder } from '../../pkg/sys/index.js';
import { buildCatalogue, pushCatalogue } from '../images/index.js';
import { startRegistry } from '../registry/index.js';
import type { Benchmark } from './benchmark.js';

const run = promisify(execFile);
const UCRI_MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../cmd/ucri/main.js');
const LAYERS = 8;
const MIB = 8;

async function startUcri(root: string): Promise<{ socket: string; proc: ChildProcess }> {
  const socket = path.join(root, 'ucri.sock');
  await fs.writeFile(path.join(root, 'empty.toml'), '');
  const proc = spawn(
    process.execPath,
    [
      UCRI_MAIN,
      'serve',
      `--socket=${socket}`,
      `--work_dir=${root}/work`,
      `--runtime_dir=${root}/run`,
      `--network_cni_config_dir=${root}/cni`,
      `--config=${root}/empty.toml`,
      `--cgroups_root=ucri-bench-${process.pid}`,
      '--log_level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  for (let i = 0; i < 600 && !existsSync(socket); i++) {
    if (proc.exitCode !== null) throw new Error(`ucri serve exited with ${proc.exitCode}`);
    await sleep(50);
  }
  return { socket, proc };
}

async function criPull(socket: string, image: string): Promise<string> {
  const client = new ImageServiceClient(`unix://${socket}`, grpc.credentials.createInsecure());
  try {
    const res = await new Promise<PullImageResponse>((resolve, reject) =>
      client.pullImage(
        {
          image: { image, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
          auth: undefined,
          sandboxConfig: undefined,
        },
        new grpc.Metadata(),
        { deadline: Date.now() + 600_000 },
        (err, r) => (err ? reject(err) : resolve(r)),
      ),
    );
    return res.imageRef;
  } finally {
    client.close();
  }
}

const mibps = (bytes: number, ms: number): string => `${(bytes / 1048576 / (ms / 1000)).toFixed(1)} MiB/s`;

export const pullBenchmark: Benchmark = {
  name: 'pull',
  description: `pull of a ${LAYERS}-layer × ${MIB} MiB image from a local registry: ucri (CRI PullImage) vs skopeo copy`,
  async run(progress) {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-bench-'));
    const reg = await startRegistry();
    let ucri: ChildProcess | undefined;
    try {
      progress('building the large fixture');
      const build = await buildCatalogue(path.join(tmp, 'fixtures'), { large: { layers: LAYERS, mib: MIB } });
      const pushed = (await pushCatalogue(build, reg.host, { names: ['large'] })).get('large');
      const large = build.fixtures.get('large')?.built;
      if (!pushed || large?.kind !== 'image') throw new Error('large fixture missing');
      const bytes = large.layers.reduce((n, l) => n + l.size, 0);

      progress('pulling with ucri');
      const root = path.join(tmp, 'ucri');
      await fs.mkdir(root);
      const started = await startUcri(root);
      ucri = started.proc;
      const t0 = performance.now();
      const id = await criPull(started.socket, pushed.reference);
      const ucriMs = performance.now() - t0;
      if (id !== large.configBlob.digest) throw new Error(`ucri pulled ${id}, expected ${large.configBlob.digest}`);

      progress('copying with skopeo');
      const t1 = performance.now();
      await run('skopeo', [
        'copy',
        '--quiet',
        '--src-tls-verify=false',
        `docker://${pushed.reference}`,
        `dir:${path.join(tmp, 'skopeo')}`,
      ]);
      const skopeoMs = performance.now() - t1;

      return [
        `image:  ${pushed.reference} (${large.layers.length} layers, ${(bytes / 1048576).toFixed(1)} MiB compressed)`,
        `ucri:   ${ucriMs.toFixed(0)} ms  ${mibps(bytes, ucriMs)}  (download + verify + extract)`,
        `skopeo: ${skopeoMs.toFixed(0)} ms  ${mibps(bytes, skopeoMs)}  (download + verify, no extraction)`,
        `ratio:  ucri takes ${(ucriMs / skopeoMs).toFixed(2)}× skopeo's time`,
      ];
    } finally {
      if (ucri && ucri.exitCode === null) {
        const exited = new Promise((resolve) => ucri?.once('exit', resolve));
        ucri.kill('SIGKILL');
        await exited;
      }
      await unmountAllUnder(tmp, { lazy: true }).catch(() => undefined);
      await reg.stop();
      await fs.rm(tmp, { recursive: true, force: true });
    }
  },
};
