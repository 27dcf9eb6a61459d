import type { ImageFsInfoResponse } from '../gen/cri/v1/api.js';
import type { CriDeps } from '../deps.js';
import { toFilesystemUsage } from './translate.js';

/**
 * ImageFsInfo: bytes and inodes the image store uses (measured once per layer at extraction) in
 * imageFilesystems, and the containers' writable layers (`--container_store_dir`, measured in the background
 * by the Mesos containerizer) in containerFilesystems, so kubelet can tell the two apart (split image
 * filesystem). Both answers are cheap: nothing is walked per call.
 */
export function imageFsInfo(deps: CriDeps) {
  return async (): Promise<ImageFsInfoResponse> => {
    const [usage, containers] = await Promise.all([
      deps.images.fsInfo(),
      Promise.all(deps.containerizer.containerizers.map((c) => c.containerFsInfo?.().catch(() => undefined))),
    ]);
    return {
      imageFilesystems: [toFilesystemUsage(usage)],
      containerFilesystems: containers.filter((u) => u !== undefined).map(toFilesystemUsage),
    };
  };
}
