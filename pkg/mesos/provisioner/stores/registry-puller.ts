/**
 * The registry puller (Mesos `RegistryPuller`, done with pkg/image): resolves a reference through mirrors,
 * with token or basic auth, to the platform's manifest and its verified config, and plans the layer
 * downloads. Blobs are verified by pkg/image while they stream; diff_ids are verified at extraction.
 */
import {
  digestReference,
  type FetchedManifest,
  type ImageReference,
  type Platform,
  type RegistryClient,
  resolveImage,
  tagReference,
} from '../../../image/index.js';
import type { Credentials } from '../../../image/index.js';
import type { PullPlan } from './plan.js';
import { runtimeConfig } from './plan.js';

/**
 * The top-level digest a reference resolves to (one manifest request, none for a digest reference): lets a
 * re-pull skip everything. The fetched manifest, when there is one, is handed to planRegistryPull so a pull
 * does not fetch it twice.
 */
export async function resolveTop(
  client: RegistryClient,
  ref: ImageReference,
  opts: { auth?: Credentials; signal?: AbortSignal },
): Promise<{ digest: string; manifest?: FetchedManifest }> {
  if (ref.digest !== undefined) return { digest: ref.digest };
  const manifest = await client.resolve(ref, opts);
  return { digest: manifest.digest, manifest };
}

/** Resolves `ref` and plans its pull. */
export async function planRegistryPull(
  client: RegistryClient,
  ref: ImageReference,
  opts: { auth?: Credentials; signal?: AbortSignal; platform?: Platform; top?: FetchedManifest },
): Promise<PullPlan> {
  const req = { ...(opts.auth ? { auth: opts.auth } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };
  const r = await resolveImage(client, ref, {
    ...req,
    ...(opts.platform ? { platform: opts.platform } : {}),
    ...(opts.top ? { top: opts.top } : {}),
  });
  const tag = tagReference(ref);
  const id = r.configDescriptor.digest;
  return {
    id,
    kind: 'docker',
    repoTags: tag === undefined ? [] : [tag],
    repoDigests: [digestReference(ref, r.repoDigest)],
    config: runtimeConfig(r.config),
    manifestDigest: r.manifestDigest,
    blobs: [
      { digest: r.manifestDigest, bytes: r.manifestBytes },
      { digest: id, bytes: r.configBytes },
    ],
    layers: r.layers.map((desc, i) => ({
      diffId: r.config.diffIds[i],
      size: desc.size,
      open: (signal: AbortSignal) =>
        client.fetchBlob(ref, { digest: desc.digest, size: desc.size }, { ...req, signal }),
      remote: (signal: AbortSignal) =>
        client.blobSource(ref, { digest: desc.digest, size: desc.size }, { ...req, signal }),
    })),
    layerDigests: r.layers.map((l) => l.digest),
    source: `${ref.domain}/${ref.path}`,
    size: r.layers.reduce((n, l) => n + l.size, 0),
  };
}
