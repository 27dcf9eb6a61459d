/**
 * ImageStatus and ListImages answers built, and encoded, once per image state. The image store hands out one
 * frozen record per image state and toCriImage one frozen Image per record (translate.ts), so an answer made of
 * frozen Images is right for as long as those Images live: kubelet's polling of the same images then costs no
 * message building and no protobuf encoding. Anything not frozen (test doubles' records, verbose answers) is
 * built and encoded per call as before.
 */
import type { Image, ImageStatusResponse, ListImagesResponse } from '../gen/cri/v1/api.js';
import { ImageServiceService } from '../services.js';

const statusOf = new WeakMap<Image, ImageStatusResponse>();
const NO_INFO: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** The non-verbose ImageStatus answer for `image`: shared and frozen when `image` is. */
export function statusResponse(image: Image): ImageStatusResponse {
  if (!Object.isFrozen(image)) return { image, info: {} };
  let res = statusOf.get(image);
  if (!res) {
    res = Object.freeze({ image, info: NO_INFO });
    statusOf.set(image, res);
  }
  return res;
}

/** The last shared ListImages answer: reused while a list holds the same frozen Images in the same order. */
let lastList: ListImagesResponse | undefined;

/** The ListImages answer for `images` (which it may keep): shared and frozen when every Image is. */
export function listResponse(images: Image[]): ListImagesResponse {
  const last = lastList;
  if (last && last.images.length === images.length && images.every((img, i) => img === last.images[i])) return last;
  if (!images.every((img) => Object.isFrozen(img))) return { images };
  const res = Object.freeze({ images: Object.freeze(images) as Image[] });
  lastList = res;
  return res;
}

const encoded = new WeakMap<object, Buffer>();

/**
 * Encodes a frozen answer once. The gRPC server (pkg/grpc, GrpcCall's framing) copies the bytes into a frame of
 * its own after the 5-byte header and never writes to them, so one Buffer serves every call that answers with
 * the same object.
 */
function encodeOnce<T extends object>(serialize: (value: T) => Buffer): (value: T) => Buffer {
  return (value) => {
    if (!Object.isFrozen(value)) return serialize(value);
    let b = encoded.get(value);
    if (!b) {
      b = serialize(value);
      encoded.set(value, b);
    }
    return b;
  };
}

/** The CRI ImageService definition with ImageStatus and ListImages answers encoded once (see encodeOnce). */
export const ImageServiceDefinition = {
  ...ImageServiceService,
  imageStatus: {
    ...ImageServiceService.imageStatus,
    responseSerialize: encodeOnce(ImageServiceService.imageStatus.responseSerialize),
  },
  listImages: {
    ...ImageServiceService.listImages,
    responseSerialize: encodeOnce(ImageServiceService.listImages.responseSerialize),
  },
} as const satisfies typeof ImageServiceService;
