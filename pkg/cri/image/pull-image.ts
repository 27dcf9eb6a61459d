import type { PullImageRequest, PullImageResponse } from '../gen/cri/v1/api.js';
import type { CriDeps } from '../deps.js';
import type { CallContext } from '../instrumented.js';
import { toCredentials } from './translate.js';
import { measure, secondsSince } from '../../util/index.js';

/**
 * PullImage: pulls (or re-points a moved tag of) the image and answers its id, the config digest, which
 * kubelet passes back as the container's image ref. Credentials come from the request's AuthConfig and,
 * in the store, from the configured ones.
 */
export function pullImage(deps: CriDeps) {
  return async (req: PullImageRequest, ctx: CallContext): Promise<PullImageResponse> => {
    const credentials = toCredentials(req.auth);
    const started = process.hrtime.bigint();
    const image = await deps.images
      .pull(req.image!.image, { signal: ctx.signal, ...(credentials ? { credentials } : {}) })
      .catch((err: unknown) => {
        measure({ kind: 'pull', seconds: secondsSince(started), bytes: 0, ok: false });
        throw err;
      });
    measure({ kind: 'pull', seconds: secondsSince(started), bytes: image.size, ok: true });
    return { imageRef: image.id };
  };
}
