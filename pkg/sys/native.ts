/**
 * The project's small C helpers (native/<name>.c, built by `make native` into dist/native/<name>). Callers
 * fall back to the util-linux programs when a helper is not built, so a checkout without a compiler still
 * works, only slower.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnavailableError } from '../util/index.js';

/** dist/native, from dist/pkg/sys. */
const NATIVE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../native');
const found = new Map<string, string | undefined>();

/** Absolute path of helper `name` when it is built and executable, else undefined (checked once). */
export function nativeHelper(name: string): string | undefined {
  if (!found.has(name)) {
    const file = path.join(NATIVE_DIR, name);
    try {
      accessSync(file, constants.X_OK);
      found.set(name, file);
    } catch {
      found.set(name, undefined);
    }
  }
  return found.get(name);
}

/**
 * Absolute path of helper `name`, for callers that have no fallback (streaming exec, attach, port-forward):
 * Unavailable naming the helper and how to build it when it is missing.
 */
export function requireNativeHelper(name: string): string {
  const file = nativeHelper(name);
  if (!file) throw new UnavailableError(`native helper "${name}" is not built (run \`make native\`)`);
  return file;
}
