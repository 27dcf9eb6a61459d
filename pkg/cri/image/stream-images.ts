import { sendChunks } from '../chunks.js';
import type { CriDeps } from '../deps.js';
import type { StreamImagesRequest, StreamImagesResponse } from '../gen/cri/v1/api.js';
import type { CallContext } from '../instrumented.js';
import { selectImages } from './list-images.js';

/** StreamImages: ListImages' items, same filter, in chunks. */
export function streamImages(deps: CriDeps) {
  return async (req: StreamImagesRequest, ctx: CallContext, send: (res: StreamImagesResponse) => void) =>
    sendChunks(
      await selectImages(deps, req.filter),
      (items) => items,
      (images) => ({ images }),
      send,
      ctx.signal,
    );
}
