/**
 * The local puller (Mesos `--docker_registry=/dir`, the image-tar puller, done better): images come from a
 * directory holding, per image, one of
 *   - a `docker save` archive, legacy layout (`manifest.json`, `<id>/layer.tar`) or the OCI-archive layout
 *     newer Docker writes (`manifest.json` + `index.json` + `blobs/sha256/…`);
 *   - an OCI archive (`oci-layout`, `index.json`, `blobs/`), or an OCI image layout directory.
 * Candidate names for `docker.io/library/busybox:latest`, tried in order, each as `<name>:<tag>.tar`, then
 * `<name>:<tag>/` and `<name>/` (OCI layouts), then `<name>.tar` for the tag `latest`, with `<name>` =
 * `busybox`, `library/busybox`, `docker.io/library/busybox`. The directory itself may also be one OCI layout
 * holding many images, selected by their `org.opencontainers.image.ref.name` annotation.
 */
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import {
  DigestVerifier,
  digestHex,
  digestReference,
  familiarName,
  type ImageReference,
  isIndexMediaType,
  parseImageConfig,
  parseManifest,
  type Platform,
  repositoryName,
  selectManifest,
  sha256Digest,
  tagReference,
} from '../../../image/index.js';
import { InvalidArgumentError, NotFoundError } from '../../../util/index.js';
import { type ArchiveSource, openArchive } from './archive.js';
import { type PullPlan, runtimeConfig } from './plan.js';

const REF_NAME = 'org.opencontainers.image.ref.name';

const dockerManifestSchema = (json: unknown): Array<{ Config: string; RepoTags: string[]; Layers: string[] }> => {
  if (!Array.isArray(json)) throw new InvalidArgumentError('manifest.json is not a list');
  return json.map((e: unknown) => {
    const o = e as Record<string, unknown>;
    const ok =
      typeof o?.Config === 'string' &&
      Array.isArray(o.Layers) &&
      o.Layers.every((l) => typeof l === 'string') &&
      (o.RepoTags === null || o.RepoTags === undefined || Array.isArray(o.RepoTags));
    if (!ok) throw new InvalidArgumentError('manifest.json entry is malformed');
    return {
      Config: o.Config as string,
      RepoTags: (o.RepoTags as string[] | null) ?? [],
      Layers: o.Layers as string[],
    };
  });
};

function json(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new InvalidArgumentError(`${what} is not valid JSON`, { cause: err });
  }
}

/** The names a reference may be stored under in the directory, most specific spelling last. */
function candidateNames(ref: ImageReference): string[] {
  const bare = familiarName({ domain: ref.domain, path: ref.path });
  return [...new Set([bare, ref.path, repositoryName(ref), ref.path.split('/').pop() ?? ref.path])];
}

export class LocalPuller {
  constructor(
    private readonly dir: string,
    private readonly platform?: Platform,
  ) {}

  /** Plans the pull of `ref` from the directory; NotFoundError naming the directory when absent. */
  async plan(ref: ImageReference): Promise<PullPlan> {
    const tag = ref.tag ?? 'latest';
    const tried: string[] = [];
    for (const name of candidateNames(ref)) {
      const paths = [`${name}:${tag}.tar`, `${name}:${tag}`, name];
      if (tag === 'latest') paths.push(`${name}.tar`);
      for (const rel of paths) {
        const p = path.join(this.dir, rel);
        tried.push(rel);
        const src = await openArchive(p);
        if (!src) continue;
        const plan = await this.fromSource(src, ref, rel === name || rel === `${name}.tar` ? tag : undefined);
        if (plan) return plan;
      }
    }
    const whole = await openArchive(this.dir);
    if (whole && (await whole.read('oci-layout'))) {
      const plan = await this.fromOci(whole, ref, true);
      if (plan) return plan;
    }
    throw new NotFoundError(
      `image "${tagReference(ref) ?? repositoryName(ref)}" not found in "${this.dir}" (tried ${tried.join(', ')})`,
    );
  }

  /** Reads one archive; `selectTag` set when the file name did not name the tag (it must then match inside). */
  private async fromSource(src: ArchiveSource, ref: ImageReference, selectTag?: string): Promise<PullPlan | undefined> {
    const manifest = await src.read('manifest.json');
    if (manifest) return this.fromDockerSave(src, ref, manifest);
    if (await src.read('oci-layout')) return this.fromOci(src, ref, selectTag !== undefined);
    throw new InvalidArgumentError(`"${src.where}" is neither a docker save archive nor an OCI layout`);
  }

  private async fromDockerSave(src: ArchiveSource, ref: ImageReference, bytes: Buffer): Promise<PullPlan> {
    const entries = dockerManifestSchema(json(bytes, `manifest.json of "${src.where}"`));
    const tag = ref.tag ?? 'latest';
    const wanted = new Set([
      `${familiarName({ domain: ref.domain, path: ref.path })}:${tag}`,
      `${repositoryName(ref)}:${tag}`,
      `${ref.path}:${tag}`,
    ]);
    const entry =
      entries.find((e) => e.RepoTags.some((t) => wanted.has(t))) ?? (entries.length === 1 ? entries[0] : undefined);
    if (!entry) throw new NotFoundError(`no image tagged "${tag}" in "${src.where}"`);
    const configBytes = await src.read(entry.Config);
    if (!configBytes) throw new InvalidArgumentError(`config "${entry.Config}" missing from "${src.where}"`);
    const id = sha256Digest(configBytes);
    const named = /([a-f0-9]{64})(\.json)?$/.exec(entry.Config)?.[1];
    if (named !== undefined && named !== digestHex(id)) {
      throw new InvalidArgumentError(`config "${entry.Config}" of "${src.where}" does not match its digest`);
    }
    const config = parseImageConfig(configBytes);
    if (config.diffIds.length !== entry.Layers.length) {
      throw new InvalidArgumentError(
        `"${src.where}" lists ${entry.Layers.length} layers for ${config.diffIds.length} diff_ids`,
      );
    }
    const layers = await Promise.all(
      entry.Layers.map(async (member, i) => ({
        diffId: config.diffIds[i],
        size: (await src.size(member)) ?? 0,
        open: (signal: AbortSignal) => src.open(member, signal),
      })),
    );
    return {
      id,
      kind: 'docker',
      repoTags: [tagReference({ ...ref, tag })!],
      repoDigests: [],
      config: runtimeConfig(config),
      manifestDigest: '',
      blobs: [{ digest: id, bytes: configBytes }],
      layers,
      layerDigests: [],
      source: src.where,
      size: layers.reduce((n, l) => n + l.size, 0),
    };
  }

  /** An OCI layout (dir or archive). With `select`, index.json must name the tag; else its only image is taken. */
  private async fromOci(src: ArchiveSource, ref: ImageReference, select: boolean): Promise<PullPlan | undefined> {
    const indexBytes = await src.read('index.json');
    if (!indexBytes) throw new InvalidArgumentError(`index.json missing from "${src.where}"`);
    const top = parseManifest(indexBytes, 'application/vnd.oci.image.index.v1+json');
    if (top.kind !== 'index') throw new InvalidArgumentError(`index.json of "${src.where}" is not an index`);
    const tag = ref.tag ?? 'latest';
    const names = new Set([
      tag,
      tagReference({ ...ref, tag }),
      `${familiarName({ domain: ref.domain, path: ref.path })}:${tag}`,
    ]);
    const byName = top.index.manifests.find((m) => names.has(m.annotations?.[REF_NAME] ?? ''));
    const byDigest = ref.digest ? top.index.manifests.find((m) => m.digest === ref.digest) : undefined;
    const desc =
      byDigest ?? byName ?? (!select && top.index.manifests.length === 1 ? top.index.manifests[0] : undefined);
    if (!desc) return undefined;
    const blob = async (digest: string, what: string): Promise<Buffer> => {
      const b = await src.read(`blobs/sha256/${digestHex(digest)}`);
      if (!b) throw new InvalidArgumentError(`${what} "${digest}" missing from "${src.where}"`);
      if (sha256Digest(b) !== digest)
        throw new InvalidArgumentError(`${what} "${digest}" in "${src.where}" does not match its digest`);
      return b;
    };
    let manifestDigest = desc.digest;
    let doc = parseManifest(await blob(desc.digest, 'manifest'), desc.mediaType);
    if (doc.kind === 'index' || isIndexMediaType(desc.mediaType)) {
      if (doc.kind !== 'index') throw new InvalidArgumentError(`"${desc.digest}" is not an index`);
      const chosen = selectManifest(doc.index, this.platform);
      manifestDigest = chosen.digest;
      doc = parseManifest(await blob(chosen.digest, 'manifest'), chosen.mediaType);
    }
    if (doc.kind !== 'manifest') throw new InvalidArgumentError(`"${manifestDigest}" is not an image manifest`);
    const m = doc.manifest;
    const manifestBytes = await blob(manifestDigest, 'manifest');
    const configBytes = await blob(m.config.digest, 'config');
    const config = parseImageConfig(configBytes);
    if (config.diffIds.length !== m.layers.length) {
      throw new InvalidArgumentError(
        `image "${m.config.digest}" lists ${config.diffIds.length} diff_ids for ${m.layers.length} layers`,
      );
    }
    return {
      id: m.config.digest,
      kind: 'docker',
      repoTags: [tagReference({ ...ref, tag })!],
      repoDigests: [digestReference(ref, desc.digest)],
      config: runtimeConfig(config),
      manifestDigest,
      blobs: [
        { digest: manifestDigest, bytes: manifestBytes },
        { digest: m.config.digest, bytes: configBytes },
      ],
      layers: m.layers.map((l, i) => ({
        diffId: config.diffIds[i],
        size: l.size,
        open: async (signal: AbortSignal): Promise<Readable> => {
          const raw = await src.open(`blobs/sha256/${digestHex(l.digest)}`, signal);
          const v = new DigestVerifier(`${src.where}@${l.digest}`, { digest: l.digest, size: l.size });
          pipeline(raw, v, () => {});
          return v;
        },
      })),
      layerDigests: m.layers.map((l) => l.digest),
      source: src.where,
      size: m.layers.reduce((n, l) => n + l.size, 0),
    };
  }
}
