import type { ImageStatusRequest, ImageStatusResponse } from '../gen/cri/v1/api.js';
import type { CriDeps } from '../deps.js';
import { statusResponse } from './responses.js';
import { toCriImage, verboseInfo } from './translate.js';

/** ImageStatus: the image a reference, id or digest names; an absent image is an empty answer, not an error. */
export function imageStatus(deps: CriDeps) {
  return async (req: ImageStatusRequest): Promise<ImageStatusResponse> => {
    const record = await deps.images.get(req.image!.image);
    if (!record) return { image: undefined, info: {} };
    const image = toCriImage(record);
    return req.verbose ? { image, info: verboseInfo(record) } : statusResponse(image);
  };
}
