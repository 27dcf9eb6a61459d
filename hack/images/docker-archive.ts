/**
 * `docker save` archives in the legacy layout that Docker (before 25) writes, which is also what the Mesos
 * image-tar puller reads (`repositories` → top layer id, follow `parent` in `<id>/json`, untar `layer.tar`):
 *
 *   <id>/VERSION           "1.0"
 *   <id>/json              v1 layer JSON: id, parent, created; the top one also carries the image config
 *   <id>/layer.tar         the uncompressed layer (its sha256 is the diff_id)
 *   <config-hex>.json      the image config
 *   manifest.json          [{"Config": "<config-hex>.json", "RepoTags": [...], "Layers": ["<id>/layer.tar", ...]}]
 *   repositories           {"<repository>": {"<tag>": "<top id>"}}
 *
 * Layer ids are derived from the chain of diff_ids (and, for the top layer, the config digest), so two images
 * that share a base layer share its id but never the top one, whose json holds each image's own config.
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../../pkg/util/index.js';
import { type BlobStore, digestHex } from './blob-store.js';
import type { BuiltImage } from './image.js';
import { FIXED_TIME, Layer } from './layer.js';
import { hostFile, writeTarFile } from './tar-file.js';

/** Ids and names inside a written docker archive. */
export interface DockerArchiveResult {
  layerIds: string[];
  configName: string;
  repoTags: string[];
}

/** The v1 layer ids of an image, base first. */
export function legacyLayerIds(image: BuiltImage): string[] {
  const ids: string[] = [];
  image.layers.forEach((l, i) => {
    const top = i === image.layers.length - 1;
    const material = { parent: ids[i - 1] ?? '', diffId: l.diffId, config: top ? image.configBlob.digest : '' };
    ids.push(createHash('sha256').update(JSON.stringify(material)).digest('hex'));
  });
  return ids;
}

/** Splits `repo[:tag]` at the tag colon (the last colon after the last slash); the tag defaults to latest. */
export function splitRepoTag(repoTag: string): { repository: string; tag: string } {
  const slash = repoTag.lastIndexOf('/');
  const colon = repoTag.lastIndexOf(':');
  if (colon > slash) return { repository: repoTag.slice(0, colon), tag: repoTag.slice(colon + 1) };
  return { repository: repoTag, tag: 'latest' };
}

/** Writes a `docker save` archive of a single-platform image at `file`, atomically. */
export async function writeDockerArchive(
  store: BlobStore,
  image: BuiltImage,
  file: string,
  repoTags: string[],
  signal?: AbortSignal,
): Promise<DockerArchiveResult> {
  if (image.layers.length === 0) throw new InvalidArgumentError('a docker archive needs at least one layer');
  const ids = legacyLayerIds(image);
  const created = image.config.created;
  const tree = new Layer({ compression: 'none' });
  const mtime = FIXED_TIME;
  for (const [i, l] of image.layers.entries()) {
    const id = ids[i] ?? '';
    const top = i === image.layers.length - 1;
    const v1: Record<string, unknown> = { id, ...(i > 0 ? { parent: ids[i - 1] } : {}), created };
    if (top) {
      Object.assign(v1, {
        architecture: image.config.architecture,
        os: image.config.os,
        config: image.config.config,
        container_config: image.config.config,
      });
    } else {
      v1.container_config = { Cmd: ['/bin/sh', '-c', l.createdBy] };
    }
    tree.dir(id, { mtime });
    tree.file(`${id}/VERSION`, '1.0', { mtime });
    tree.file(`${id}/json`, JSON.stringify(v1), { mtime });
    tree.file(`${id}/layer.tar`, await hostFile(store.path('diff', l.diffId)), { mtime });
  }
  const configName = `${digestHex(image.configBlob.digest)}.json`;
  tree.file(configName, await store.read('blob', image.configBlob.digest));
  const manifest = [{ Config: configName, RepoTags: repoTags, Layers: ids.map((id) => `${id}/layer.tar`) }];
  tree.file('manifest.json', JSON.stringify(manifest));
  const repositories: Record<string, Record<string, string>> = {};
  for (const rt of repoTags) {
    const { repository, tag } = splitRepoTag(rt);
    repositories[repository] = { ...repositories[repository], [tag]: ids[ids.length - 1] ?? '' };
  }
  tree.file('repositories', JSON.stringify(repositories));
  await writeTarFile(file, tree, signal);
  return { layerIds: ids, configName, repoTags };
}
