/**
 * zod's English messages for ucri's schemas, which use `zod/mini`.
 *
 * Why mini: the full zod ("classic") gives every schema its method-chaining API and is loaded whole at start;
 * in a bare node it costs ~5 MiB of RSS where mini with the same schemas costs ~2.5, and the daemon's idle RSS
 * is what `make bench` holds against a 60 MiB target (docs/performance.md, "Idle memory, phase 8"). Schema
 * modules import `* as z from 'zod/mini'` (a namespace import, so that the bundle keeps only what they use),
 * never 'zod': the daemon then loads one zod. The API is functional: `z.string().check(z.minLength(1, 'msg'))`,
 * `z.optional(s)`, `z._default(s, v)`, `z.pipe(a, z.transform(fn))`; checks and messages are zod's core, the same
 * as classic's.
 *
 * Why this module: classic zod registers its English messages when its first schema is made; mini registers
 * none, and every issue without a message of ours would read "Invalid input". Those messages (e.g. `Too small:
 * expected number to be >=0`) are part of what a caller sees in INVALID_ARGUMENT and in configuration errors,
 * so pkg/util/index.ts imports this module for its effect: every schema module imports pkg/util, so the
 * messages are set before any request or file is parsed. Only the English locale is loaded (hack/bundle.ts
 * bundles zod's `locales` namespace empty).
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());
