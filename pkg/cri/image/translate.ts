/**
 * Image translation between the domain (ImageRecord, ImageFsUsage) and CRI messages.
 */
import type { Credentials, ImageFsUsage, ImageRecord } from '../../containerizer/index.js';
import type { AuthConfig, FilesystemUsage, Image } from '../gen/cri/v1/api.js';

/**
 * The uid or user name the image runs as by default: CRI has `uid` for a numeric USER (`1002`, `1002:1003`)
 * and `username` for a name (`www-data`); an empty USER is neither (kubelet then assumes root).
 */
export function imageUser(user: string): { uid: { value: bigint } | undefined; username: string } {
  const name = user.split(':')[0] ?? '';
  if (name === '') return { uid: undefined, username: '' };
  if (/^\d+$/.test(name)) return { uid: { value: BigInt(name) }, username: '' };
  return { uid: undefined, username: name };
}

/**
 * The message built for each frozen record. The image store hands out one frozen record per image state and a
 * new one when the image changes (pkg/mesos/provisioner/stores/image-index.ts), so a message is right for as
 * long as its record lives; records that are not frozen (test doubles) are translated per call.
 */
const criImages = new WeakMap<ImageRecord, Image>();

/** A stored image as CRI reports it: shared and frozen when `r` is frozen (see criImages). */
export function toCriImage(r: ImageRecord): Image {
  const cached = criImages.get(r);
  if (cached) return cached;
  const { uid, username } = imageUser(r.config.user);
  const img: Image = {
    id: r.id,
    repoTags: [...r.repoTags],
    repoDigests: [...r.repoDigests],
    // CRI says size must be > 0; a store never holds an empty image, but guard the contract anyway.
    size: BigInt(Math.max(1, r.size)),
    uid,
    username,
    spec: { image: r.id, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: r.id },
    pinned: r.pinned,
  };
  if (!Object.isFrozen(r)) return img;
  Object.freeze(img.repoTags);
  Object.freeze(img.repoDigests);
  if (img.uid) Object.freeze(img.uid);
  Object.freeze(img.spec!.annotations);
  Object.freeze(img.spec);
  Object.freeze(img);
  criImages.set(r, img);
  return img;
}

/** Verbose ImageStatus info: one JSON document under `info`, as crictl inspecti prints it. */
export function verboseInfo(r: ImageRecord): Record<string, string> {
  return { info: JSON.stringify({ ...r, imageSpec: { config: r.config } }) };
}

/** The CRI AuthConfig as domain credentials; undefined when it carries nothing. */
export function toCredentials(a: AuthConfig | undefined): Credentials | undefined {
  if (!a) return undefined;
  const out: Credentials = {};
  if (a.username) out.username = a.username;
  if (a.password) out.password = a.password;
  if (a.auth) out.auth = a.auth;
  if (a.identityToken) out.identityToken = a.identityToken;
  if (a.registryToken) out.registryToken = a.registryToken;
  if (a.serverAddress) out.serverAddress = a.serverAddress;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Image filesystem usage as CRI reports it. */
export function toFilesystemUsage(u: ImageFsUsage): FilesystemUsage {
  return {
    timestamp: u.timestampNs,
    fsId: { mountpoint: u.mountpoint },
    usedBytes: { value: BigInt(u.usedBytes) },
    inodesUsed: { value: BigInt(u.inodesUsed) },
  };
}
