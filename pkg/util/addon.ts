/**
 * Loading ucri's Node-API addons (native/addon/*.c, built into dist/native/ by `make native`): ucri-memory.node
 * (pkg/sys/memory.ts) and ucri-fs.node (exchange.ts). Each is loaded once, on first use; an addon that is not
 * there (no compiler at build time, another libc) or does not load is null, and its callers do without it.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * dist/native/, from dist/pkg/util (and from the bundle, two folders below dist/ too). Undefined in the layer
 * worker's CommonJS file (hack/bundle.ts), where `import.meta` is empty: the worker goes without addons.
 */
function nativeDir(): string | undefined {
  const url = import.meta.url;
  return url ? path.resolve(path.dirname(fileURLToPath(url)), '../../native') : undefined;
}

const loaded = new Map<string, unknown>();

/**
 * The addon dist/native/`name` (e.g. `ucri-fs.node`), loaded on the first call and kept; null when it cannot
 * be loaded, in which case `onError` is told why (on that first call only).
 */
export function loadAddon<T>(name: string, onError?: (err: unknown) => void): T | null {
  if (!loaded.has(name)) {
    let addon: unknown = null;
    const dir = nativeDir();
    if (dir) {
      const file = path.join(dir, name);
      try {
        addon = createRequire(file)(file);
      } catch (err) {
        onError?.(err);
      }
    }
    loaded.set(name, addon);
  }
  return loaded.get(name) as T | null;
}
