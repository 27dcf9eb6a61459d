/**
 * The appc puller (Mesos appc store, simple discovery): `appc:<name>[:<version>]` is fetched from
 * `{prefix}{name}-{version}-{os}-{arch}.aci` (`--appc_simple_discovery_uri_prefix`, `file://` or `http(s)://`).
 * An ACI is a tar (often gzip-compressed) holding `manifest` (JSON) and `rootfs/`. The download is kept in a
 * staging file (its sha256 is the image id), the manifest is checked, then `rootfs/` is re-packed on the fly
 * into a plain layer tar and extracted like any docker layer: the same safety and overlay conversion apply.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { request } from 'undici';
import * as z from 'zod/mini';
import { sha256Digest, sniffCompression } from '../../../image/index.js';
import { errorMessage, fromAbort, InvalidArgumentError, NotFoundError, UnavailableError } from '../../../util/index.js';
import type { PullPlan } from './plan.js';

/** The reference prefix that selects the appc store. */
export const APPC_PREFIX = 'appc:';
const NAME = /^[a-z0-9]+(?:[-._~/][a-z0-9]+)*$/;
const MAX_MANIFEST = 1 << 20;

/** An appc image name and version. */
export interface AppcReference {
  name: string;
  version: string;
}

/** Parses `appc:<name>[:<version>]`; InvalidArgumentError otherwise. */
export function parseAppcReference(input: string): AppcReference {
  const rest = input.startsWith(APPC_PREFIX) ? input.slice(APPC_PREFIX.length) : input;
  const colon = rest.lastIndexOf(':');
  const name = colon >= 0 ? rest.slice(0, colon) : rest;
  const version = colon >= 0 ? rest.slice(colon + 1) : 'latest';
  if (!NAME.test(name)) throw new InvalidArgumentError(`invalid appc image name "${name}" in "${input}"`);
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(version)) {
    throw new InvalidArgumentError(`invalid appc version "${version}" in "${input}"`);
  }
  return { name, version };
}

/** The normalized name an appc image is listed under: `appc:<name>:<version>`. */
export function formatAppcReference(r: AppcReference): string {
  return `${APPC_PREFIX}${r.name}:${r.version}`;
}

/** appc architecture names (spec: amd64, i386, aarch64, armv7l, ppc64le, s390x). */
function appcArch(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'aarch64', arm: 'armv7l', ia32: 'i386', ppc64: 'ppc64le' };
  return map[process.arch] ?? process.arch;
}

const manifestSchema = z.object({
  acKind: z.literal('ImageManifest'),
  acVersion: z.optional(z.string()),
  name: z.string(),
  labels: z.optional(z.array(z.object({ name: z.string(), value: z.string() }))),
  annotations: z.optional(z.array(z.object({ name: z.string(), value: z.string() }))),
  app: z.optional(
    z.object({
      exec: z.optional(z.array(z.string())),
      user: z.optional(z.string()),
      group: z.optional(z.string()),
      workingDirectory: z.optional(z.string()),
      environment: z.optional(z.array(z.object({ name: z.string(), value: z.string() }))),
      ports: z.optional(z.array(z.object({ name: z.string(), protocol: z.string(), port: z.number() }))),
      mountPoints: z.optional(z.array(z.object({ name: z.string(), path: z.string() }))),
    }),
  ),
  dependencies: z.optional(z.array(z.unknown())),
});

/** Decompresses an ACI stream when gzip-compressed (the usual `.aci`); plain tars pass through. */
async function aciTar(file: string): Promise<Readable> {
  const fh = await fs.open(file, 'r');
  const head = Buffer.alloc(4);
  try {
    await fh.read(head, 0, 4, 0);
  } finally {
    await fh.close();
  }
  const kind = sniffCompression(head);
  if (kind === 'none') return createReadStream(file);
  if (kind === 'gzip') {
    const out = new PassThrough();
    pipeline(createReadStream(file), createGunzip(), out).catch((err: unknown) =>
      out.destroy(new InvalidArgumentError(`ACI "${file}" is corrupt: ${errorMessage(err)}`)),
    );
    return out;
  }
  throw new InvalidArgumentError(`ACI "${file}" uses unsupported compression "${kind}"`);
}

function memberName(n: string): string {
  return path.posix.normalize(n).replace(/^(\.\/)+/, '');
}

export class AppcPuller {
  constructor(
    private readonly prefix: string,
    private readonly stagingDir: string,
  ) {}

  /**
   * Fetches the ACI into a staging file and plans its pull. The returned `cleanup` removes the staging file;
   * the store calls it once the pull has finished either way. `onProgress` hears every downloaded chunk.
   */
  async plan(
    input: string,
    signal?: AbortSignal,
    onProgress?: () => void,
  ): Promise<{ plan: PullPlan; cleanup: () => Promise<void> }> {
    const ref = parseAppcReference(input);
    const url = `${this.prefix}${ref.name}-${ref.version}-linux-${appcArch()}.aci`;
    await fs.mkdir(this.stagingDir, { recursive: true });
    const file = path.join(this.stagingDir, `aci-${randomBytes(8).toString('hex')}.aci`);
    const cleanup = () => fs.rm(file, { force: true });
    try {
      await this.fetch(url, file, signal, onProgress);
      const bytes = await this.readManifest(file);
      const m = this.checkManifest(bytes, ref, url);
      const id = await fileDigest(file);
      const size = (await fs.stat(file)).size;
      const app = m.app ?? {};
      const labels = Object.fromEntries([...(m.labels ?? []), ...(m.annotations ?? [])].map((l) => [l.name, l.value]));
      const user = app.user ?? '';
      const plan: PullPlan = {
        id,
        kind: 'appc',
        repoTags: [formatAppcReference(ref)],
        repoDigests: [],
        config: {
          entrypoint: app.exec ?? [],
          cmd: [],
          env: (app.environment ?? []).map((e) => `${e.name}=${e.value}`),
          workingDir: app.workingDirectory ?? '',
          user: app.group !== undefined && app.group !== '' && user !== '' ? `${user}:${app.group}` : user,
          exposedPorts: (app.ports ?? []).map((p) => `${p.port}/${p.protocol}`),
          volumes: (app.mountPoints ?? []).map((p) => p.path),
          labels,
          stopSignal: '',
        },
        manifestDigest: sha256Digest(bytes),
        blobs: [{ digest: sha256Digest(bytes), bytes }],
        layers: [{ diffId: undefined, size, open: () => this.rootfsTar(file) }],
        layerDigests: [],
        source: url,
        size,
      };
      return { plan, cleanup };
    } catch (err) {
      await cleanup();
      throw fromAbort(err, signal);
    }
  }

  private async fetch(url: string, file: string, signal?: AbortSignal, onProgress?: () => void): Promise<void> {
    if (url.startsWith('file://')) {
      const p = decodeURIComponent(new URL(url).pathname);
      try {
        await fs.copyFile(p, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`ACI "${url}" not found`);
        throw err;
      }
      return;
    }
    if (!/^https?:\/\//.test(url)) throw new InvalidArgumentError(`unsupported appc discovery URL "${url}"`);
    let res: Awaited<ReturnType<typeof request>>;
    try {
      // undici is loaded on first use only (an appc pull is rare; the module costs ~20 MiB of RSS).
      const { request } = await import('./appc-deps.js');
      res = await request(url, { method: 'GET', maxRedirections: 5, ...(signal ? { signal } : {}) } as Parameters<
        typeof request
      >[1]);
    } catch (err) {
      throw fromAbort(
        signal?.aborted ? err : new UnavailableError(`cannot fetch ACI "${url}": ${errorMessage(err)}`),
        signal,
      );
    }
    if (res.statusCode === 404) {
      await res.body.dump();
      throw new NotFoundError(`ACI "${url}" not found`);
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new UnavailableError(`fetching ACI "${url}" answered ${res.statusCode}`);
    }
    if (onProgress) res.body.on('data', onProgress);
    await pipeline(res.body, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  }

  private async readManifest(file: string): Promise<Buffer> {
    const { extract } = await import('./appc-deps.js');
    const ex = extract();
    (await aciTar(file)).pipe(ex);
    for await (const entry of ex) {
      if (memberName(entry.header.name) === 'manifest' && entry.header.type === 'file') {
        if ((entry.header.size ?? 0) > MAX_MANIFEST) throw new InvalidArgumentError(`ACI manifest is too large`);
        const chunks: Buffer[] = [];
        for await (const c of entry) chunks.push(c as Buffer);
        ex.destroy();
        return Buffer.concat(chunks);
      }
      entry.resume();
    }
    throw new InvalidArgumentError(`ACI "${file}" has no manifest`);
  }

  private checkManifest(bytes: Buffer, ref: AppcReference, url: string): z.infer<typeof manifestSchema> {
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new InvalidArgumentError(`manifest of ACI "${url}" is not valid JSON`, { cause: err });
    }
    const parsed = manifestSchema.safeParse(json);
    if (!parsed.success) throw new InvalidArgumentError(`invalid manifest in ACI "${url}"`, { cause: parsed.error });
    const m = parsed.data;
    if (m.name !== ref.name) throw new InvalidArgumentError(`ACI "${url}" is named "${m.name}", not "${ref.name}"`);
    const label = (n: string) => m.labels?.find((l) => l.name === n)?.value;
    const version = label('version');
    if (version !== undefined && ref.version !== 'latest' && version !== ref.version) {
      throw new InvalidArgumentError(`ACI "${url}" has version "${version}", not "${ref.version}"`);
    }
    if ((m.dependencies ?? []).length > 0) {
      throw new InvalidArgumentError(`ACI "${url}" has dependencies, which ucri does not support`);
    }
    return m;
  }

  /** The ACI's `rootfs/` as a plain layer tar (names without the prefix; everything else dropped). */
  private async rootfsTar(file: string): Promise<Readable> {
    const { extract, pack } = await import('./appc-deps.js');
    const ex = extract();
    const out = pack();
    ex.on('entry', (header, stream, next) => {
      const name = memberName(header.name);
      if (!name.startsWith('rootfs/') || name === 'rootfs/') {
        stream.on('end', () => next());
        stream.resume();
        return;
      }
      const h = { ...header, name: name.slice('rootfs/'.length) };
      if (h.type === 'link' && h.linkname) h.linkname = memberName(h.linkname).replace(/^rootfs\//, '');
      const sink = out.entry(h, (err) => next(err ?? undefined));
      stream.pipe(sink);
    });
    ex.on('finish', () => out.finalize());
    ex.on('error', (err) => out.destroy(err));
    (await aciTar(file)).on('error', (err) => ex.destroy(err)).pipe(ex);
    const tar = new PassThrough();
    out.on('error', (err: Error) => tar.destroy(err));
    out.pipe(tar);
    return tar;
  }
}

async function fileDigest(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}
