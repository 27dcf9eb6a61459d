/**
 * CLI of the fixture builder:
 *
 *   node dist/hack/images/main.js build --out DIR [--large NxM]
 *   node dist/hack/images/main.js push --registry 127.0.0.1:PORT [--prefix e2e-test-images/] [--out DIR]
 *        [--user U --password P] [--upload post-put|monolithic|chunked] [--large NxM]
 *   node dist/hack/images/main.js list
 *
 * `--large 4x16` adds the `large` fixture (4 layers of 16 MiB). `push` without `--out` builds in a temp dir that
 * it removes afterwards.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage, InvalidArgumentError } from '../../pkg/util/index.js';
import { buildCatalogue, pushCatalogue } from './build.js';
import { type CatalogueOptions, fixtureCatalogue } from './catalogue.js';
import type { UploadMode } from './push.js';

function parseLarge(v: string | undefined): CatalogueOptions['large'] {
  if (v === undefined) return undefined;
  const m = /^(\d+)x(\d+(?:\.\d+)?)$/.exec(v);
  if (!m?.[1] || !m[2]) throw new InvalidArgumentError(`--large "${v}": expected LAYERSxMIB, e.g. 4x16`);
  return { layers: Number(m[1]), mib: Number(m[2]) };
}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      registry: { type: 'string' },
      prefix: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      upload: { type: 'string' },
      large: { type: 'string' },
    },
  });
  const cmd = positionals[0];
  const catalogueOpts: CatalogueOptions = { large: parseLarge(values.large) };
  if (cmd === 'list') {
    for (const d of await fixtureCatalogue(catalogueOpts)) console.log(`${d.name}\t${d.format}\t${d.description}`);
    return;
  }
  if (cmd === 'build') {
    if (!values.out) throw new InvalidArgumentError('build needs --out DIR');
    const build = await buildCatalogue(path.resolve(values.out), catalogueOpts);
    for (const f of build.fixtures.values()) console.log(`${f.name}\t${f.ociDigest}\t${f.paths.ociArchive}`);
    return;
  }
  if (cmd === 'push') {
    if (!values.registry) throw new InvalidArgumentError('push needs --registry HOST:PORT');
    if ((values.user === undefined) !== (values.password === undefined)) {
      throw new InvalidArgumentError('--user and --password go together');
    }
    const upload = values.upload as UploadMode | undefined;
    if (upload && !['post-put', 'monolithic', 'chunked'].includes(upload)) {
      throw new InvalidArgumentError(`--upload "${upload}" unknown`);
    }
    const out = values.out ? path.resolve(values.out) : await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-images-'));
    try {
      const build = await buildCatalogue(out, catalogueOpts);
      const auth = values.user && values.password ? { username: values.user, password: values.password } : undefined;
      const pushed = await pushCatalogue(build, values.registry, { prefix: values.prefix, auth, upload });
      for (const p of pushed.values()) console.log(`${p.reference}@${p.manifestDigest}\t${p.mediaType}`);
    } finally {
      if (!values.out) await fs.rm(out, { recursive: true, force: true });
    }
    return;
  }
  throw new InvalidArgumentError(`unknown command "${cmd ?? ''}": use build, push or list`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`images: ${errorMessage(err)}`);
  process.exitCode = 1;
});
