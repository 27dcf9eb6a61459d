import type { ImageRecord } from '../../containerizer/index.js';
import type { CriDeps } from '../deps.js';
import type { Image, ImageFilter, ListImagesRequest, ListImagesResponse } from '../gen/cri/v1/api.js';
import { listResponse } from './responses.js';
import { toCriImage } from './translate.js';

/** The images ListImages and StreamImages answer with: all, or the one the filter names (reference, id, digest). */
export async function selectImages(deps: CriDeps, filter: ImageFilter | undefined): Promise<Image[]> {
  const wanted = filter?.image?.image ?? '';
  let records: ImageRecord[];
  if (wanted === '') records = await deps.images.list();
  else {
    const one = await deps.images.get(wanted);
    records = one ? [one] : [];
  }
  // By code unit: the names are ASCII references and ids, and localeCompare costs a collator call per pair.
  records.sort((a, b) => {
    const x = a.repoTags[0] ?? a.id;
    const y = b.repoTags[0] ?? b.id;
    return x < y ? -1 : x > y ? 1 : 0;
  });
  return records.map(toCriImage);
}

/** ListImages: every image, or only the one the filter's image spec names. */
export function listImages(deps: CriDeps) {
  return async (req: ListImagesRequest): Promise<ListImagesResponse> =>
    listResponse(await selectImages(deps, req.filter));
}
