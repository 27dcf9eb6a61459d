import type { ImageRecord } from '../../containerizer/index.js';
import type { ListImagesRequest, ListImagesResponse } from '../gen/cri/v1/api.js';
import type { CriDeps } from '../deps.js';
import { toCriImage } from './translate.js';

/** ListImages: every image, or only the one the filter's image spec names (reference, id or digest). */
export function listImages(deps: CriDeps) {
  return async (req: ListImagesRequest): Promise<ListImagesResponse> => {
    const wanted = req.filter?.image?.image ?? '';
    let records: ImageRecord[];
    if (wanted === '') records = await deps.images.list();
    else {
      const one = await deps.images.get(wanted);
      records = one ? [one] : [];
    }
    records.sort((a, b) => (a.repoTags[0] ?? a.id).localeCompare(b.repoTags[0] ?? b.id));
    return { images: records.map(toCriImage) };
  };
}
