/**
 * OCI image layout directories and OCI archives (a tar of such a directory):
 *
 *   <dir>/
 *     oci-layout            {"imageLayoutVersion":"1.0.0"}
 *     index.json            one descriptor, annotated org.opencontainers.image.ref.name=<ref>; for a
 *                           multi-platform image it points at a nested image index
 *     blobs/sha256/<hex>    manifests, configs, layers (hard links into the blob store when possible)
 *
 * Layouts always use OCI media types, whatever format the image is pushed in.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { AlreadyExistsError } from '../../pkg/util/index.js';
import { type BlobStore, digestHex } from './blob-store.js';
import {
  type BuiltImage,
  type BuiltIndex,
  imageManifest,
  indexManifest,
  type ManifestBlob,
  MediaType,
} from './image.js';
import { Layer } from './layer.js';
import { hostFile, linkOrCopy, writeTarFile } from './tar-file.js';

/** What a layout holds: the top descriptor (as in index.json) and every blob digest. */
export interface LayoutResult {
  top: ManifestBlob;
  blobs: string[];
}

const REF_ANNOTATION = 'org.opencontainers.image.ref.name';

/** Every blob of an image or index in OCI form, plus its top manifest. */
export async function ociBlobs(store: BlobStore, built: BuiltImage | BuiltIndex): Promise<LayoutResult> {
  const digests = new Set<string>();
  const addImage = (img: BuiltImage): void => {
    digests.add(img.configBlob.digest);
    for (const l of img.layers) digests.add(l.digest);
  };
  let top: ManifestBlob;
  if (built.kind === 'image') {
    top = await imageManifest(store, built, 'oci');
    addImage(built);
  } else {
    const r = await indexManifest(store, built, 'oci');
    top = r.index;
    for (const c of r.children) digests.add(c.digest);
    built.images.forEach(addImage);
  }
  digests.add(top.digest);
  return { top, blobs: [...digests].sort() };
}

/**
 * Writes an OCI image layout at `dir` (which must not exist) with the image tagged `ref`. The directory is
 * assembled under a temp name and renamed, so it is either complete or absent.
 */
export async function writeOciLayout(
  store: BlobStore,
  built: BuiltImage | BuiltIndex,
  dir: string,
  ref = 'latest',
): Promise<LayoutResult> {
  if (await exists(dir)) throw new AlreadyExistsError(`oci layout "${dir}" already exists`);
  const layout = await ociBlobs(store, built);
  const tmp = `${dir}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await fs.mkdir(path.join(tmp, 'blobs', 'sha256'), { recursive: true });
    for (const d of layout.blobs)
      await linkOrCopy(store.path('blob', d), path.join(tmp, 'blobs', 'sha256', digestHex(d)));
    await fs.writeFile(path.join(tmp, 'oci-layout'), layoutFile());
    await fs.writeFile(path.join(tmp, 'index.json'), indexFile(layout.top, ref));
    await fs.rename(tmp, dir);
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return layout;
}

/** Writes an OCI archive (`oci-archive:` transport): a reproducible tar of the layout of `built`. */
export async function writeOciArchive(
  store: BlobStore,
  built: BuiltImage | BuiltIndex,
  file: string,
  ref = 'latest',
  signal?: AbortSignal,
): Promise<LayoutResult> {
  const layout = await ociBlobs(store, built);
  const tree = new Layer({ compression: 'none' });
  tree.file('oci-layout', layoutFile());
  tree.file('index.json', indexFile(layout.top, ref));
  tree.dir('blobs').dir('blobs/sha256');
  for (const d of layout.blobs) tree.file(`blobs/sha256/${digestHex(d)}`, await hostFile(store.path('blob', d)));
  await writeTarFile(file, tree, signal);
  return layout;
}

function layoutFile(): string {
  return `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`;
}

function indexFile(top: ManifestBlob, ref: string): string {
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [
      { mediaType: top.mediaType, digest: top.digest, size: top.size, annotations: { [REF_ANNOTATION]: ref } },
    ],
  };
  return `${JSON.stringify(index, null, 2)}\n`;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}
