/**
 * zod schemas of ImageService requests (and of ucri's own pull stream). A failure becomes INVALID_ARGUMENT
 * naming the field, e.g. `image.image: must not be empty`. The reference grammar itself is checked by the
 * store, which knows the providers (docker, appc).
 */
import { z } from 'zod';

const reference = z
  .string()
  .min(1, 'must not be empty')
  .max(4096, 'is too long')
  .refine((s) => s === s.trim(), 'must not have surrounding whitespace');
const imageSpec = z.object({ image: reference }, { error: 'is required' });

const imageFilter = z.object({
  filter: z.object({ image: z.object({ image: z.string().max(4096, 'is too long') }).optional() }).optional(),
});

export const imageSchemas = {
  pullImage: z.object({ image: imageSpec }),
  imageStatus: z.object({ image: imageSpec }),
  removeImage: z.object({ image: imageSpec }),
  listImages: imageFilter,
  streamImages: imageFilter,
};

export const ucriImageSchemas = {
  pullImage: z.object({ image: reference }),
};
