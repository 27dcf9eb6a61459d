import type { ImageFsInfoResponse } from '../gen/cri/v1/api.js';
import type { CriDeps } from '../deps.js';
import { toFilesystemUsage } from './translate.js';

/**
 * ImageFsInfo: bytes and inodes the image store uses (measured once per layer at extraction, so the call
 * is cheap). Container writable layers live on the same filesystem: containerFilesystems stays empty.
 */
export function imageFsInfo(deps: CriDeps) {
  return async (): Promise<ImageFsInfoResponse> => {
    const usage = await deps.images.fsInfo();
    return { imageFilesystems: [toFilesystemUsage(usage)], containerFilesystems: [] };
  };
}
