/**
 * From a reference to everything a store needs before downloading layers: the repo digest, the platform's
 * image manifest, and the verified, parsed config. Layers are then fetched with `RegistryClient.fetchBlob`.
 */
import { FailedPreconditionError, InvalidArgumentError } from '../util/index.js';
import { sha256Digest } from './digest.js';
import {
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  type Platform,
  parseImageConfig,
  parseManifest,
} from './manifest.js';
import { defaultPlatform, formatPlatform, platformScore, selectManifest } from './platform.js';
import type { ImageReference } from './reference.js';
import type { FetchedManifest, RegistryClient, RequestOptions } from './registry/client.js';

const MAX_CONFIG_BYTES = 8 << 20;

/** A resolved image, ready for its layers to be pulled. */
export interface ResolvedImage {
  reference: ImageReference;
  /** Digest of what the reference pointed at (index or manifest): CRI `repo_digests` use it. */
  repoDigest: string;
  /** Digest and bytes of the platform's image manifest (equal to repoDigest for single-platform images). */
  manifestDigest: string;
  manifestMediaType: string;
  manifestBytes: Buffer;
  manifest: ImageManifest;
  /** The config descriptor; its digest is the image id. */
  configDescriptor: Descriptor;
  configBytes: Buffer;
  config: ImageConfig;
  /** Layer descriptors, base first; `config.diffIds[i]` is the uncompressed digest of `layers[i]`. */
  layers: Descriptor[];
}

export interface ResolveImageOptions extends RequestOptions {
  /** Platform to select from an index; this host by default. */
  platform?: Platform;
  /**
   * What `client.resolve(ref)` returned, when the caller fetched it already (a store checking whether it has
   * the image): saves fetching the same manifest twice. It must come from `client.resolve` of this `ref`.
   */
  top?: FetchedManifest;
}

/**
 * Resolves a reference through an index (if any) to one image manifest and its config. NotFoundError when
 * the index has no manifest for the platform; InvalidArgumentError when manifest and config disagree
 * (layer count vs diff_ids); FailedPreconditionError when a single-platform image is for another os/arch.
 */
export async function resolveImage(
  client: RegistryClient,
  ref: ImageReference,
  opts: ResolveImageOptions = {},
): Promise<ResolvedImage> {
  const platform = opts.platform ?? defaultPlatform();
  const top = opts.top ?? (await client.resolve(ref, opts));
  let doc = parseManifest(top.bytes, top.mediaType);
  let fetched = top;
  if (doc.kind === 'index') {
    const chosen = selectManifest(doc.index, platform);
    fetched = await client.fetchManifest(ref, chosen.digest, opts);
    if (fetched.bytes.length !== chosen.size) {
      throw new InvalidArgumentError(
        `manifest "${chosen.digest}" has ${fetched.bytes.length} bytes, index says ${chosen.size}`,
      );
    }
    doc = parseManifest(fetched.bytes, fetched.mediaType || chosen.mediaType);
    if (doc.kind !== 'manifest') throw new InvalidArgumentError(`index entry "${chosen.digest}" is an index itself`);
  }
  const manifest = doc.manifest;
  const configBytes = await client.fetchBlobBytes(ref, manifest.config, opts, MAX_CONFIG_BYTES);
  const config = parseImageConfig(configBytes);
  if (config.diffIds.length !== manifest.layers.length) {
    throw new InvalidArgumentError(
      `image "${sha256Digest(configBytes)}" lists ${config.diffIds.length} diff_ids for ${manifest.layers.length} layers`,
    );
  }
  if (top === fetched) {
    const have: Platform = { os: config.os, architecture: config.architecture };
    if (config.variant !== undefined) have.variant = config.variant;
    if (platformScore(platform, have) === 0 && platformScore({ ...platform, variant: undefined }, have) === 0) {
      throw new FailedPreconditionError(`image is for "${formatPlatform(have)}", not "${formatPlatform(platform)}"`);
    }
  }
  return {
    reference: ref,
    repoDigest: top.digest,
    manifestDigest: fetched.digest,
    manifestMediaType: doc.mediaType,
    manifestBytes: fetched.bytes,
    manifest,
    configDescriptor: manifest.config,
    configBytes,
    config,
    layers: manifest.layers,
  };
}
