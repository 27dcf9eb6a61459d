import type { RemoveImageRequest, RemoveImageResponse } from '../gen/cri/v1/api.js';
import type { CriDeps } from '../deps.js';

/**
 * RemoveImage: by tag or digest reference only that name goes (the image stays while it has others); by id
 * the image goes with all its names. Removing an absent image succeeds, as kubelet expects.
 */
export function removeImage(deps: CriDeps) {
  return async (req: RemoveImageRequest): Promise<RemoveImageResponse> => {
    await deps.images.remove(req.image!.image);
    return {};
  };
}
