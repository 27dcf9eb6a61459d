/** Where the project's native helpers live once built. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Path of one of the project's native helpers (native/<name>.c, built by `make native` into dist/native). */
export function nativeHelper(name: string): string {
  // This file is dist/pkg/sys/native.js; the helpers are in dist/native.
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../native', name);
}
