/**
 * zod schemas of ImageService requests (and of ucri's own pull stream). A failure becomes INVALID_ARGUMENT
 * naming the field, e.g. `image.image: must not be empty`. The reference grammar itself is checked by the
 * store, which knows the providers (docker, appc).
 */
import * as z from 'zod/mini';

const reference = z.string().check(
  z.minLength(1, 'must not be empty'),
  z.maxLength(4096, 'is too long'),
  z.refine((s) => s === s.trim(), 'must not have surrounding whitespace'),
);
const imageSpec = z.object({ image: reference }, { error: 'is required' });

const imageFilter = z.object({
  filter: z.optional(
    z.object({ image: z.optional(z.object({ image: z.string().check(z.maxLength(4096, 'is too long')) })) }),
  ),
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
