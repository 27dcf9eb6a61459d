import type { PullImageProgress, PullImageRequest } from '../gen/ucri/v1/ucri.js';
import type { CriDeps } from '../deps.js';
import type { CallContext } from '../instrumented.js';

/**
 * ucri.v1.Images/PullImage (ucri's CLI only): the CRI pull with a stream of progress reports; the last
 * message carries the image id.
 */
export function pullWithProgress(deps: CriDeps) {
  return async (req: PullImageRequest, ctx: CallContext, send: (p: PullImageProgress) => void): Promise<void> => {
    // The closing message repeats the last byte counts, so a progress bar ends at 100 %, not at 0 B/0 B.
    let last = { downloadedBytes: 0n, totalBytes: 0n };
    const credentials = req.username ? { username: req.username, password: req.password } : undefined;
    const image = await deps.images.pull(req.image, {
      signal: ctx.signal,
      ...(credentials ? { credentials } : {}),
      onProgress: (p) => {
        last = { downloadedBytes: BigInt(p.downloadedBytes), totalBytes: BigInt(p.totalBytes) };
        send({ phase: p.phase, ...last, extractedLayers: p.extractedLayers, totalLayers: p.totalLayers, imageId: '' });
      },
    });
    send({
      phase: 'done',
      ...last,
      extractedLayers: image.layers.length,
      totalLayers: image.layers.length,
      imageId: image.id,
    });
  };
}
