/**
 * Bundles the `ucri` program (run by `make build` after tsc): dist/cmd/ucri/main.js and everything it imports,
 * ucri's own modules and its npm dependencies, become one minified ES module with split chunks under
 * dist/bundle/ucri/. The daemon (`make run`, the installed launcher, the daemons of tests and of `make bench`)
 * runs the bundle.
 *
 * Why: the daemon's idle memory. Loading ~400 separate modules keeps every module's full source text in the
 * V8 heap (comments, the generated CRI codec, zod's locales re-exported by `export * as locales`, code paths
 * never taken) and compiles each module's top level; the bundle is tree-shaken and minified. Measured in
 * docs/performance.md ("Bundled daemon, phase 5").
 *
 * - Lazily loaded parts (undici, ws, prom-client, pkg/docker, the CLI's streaming commands) stay lazy:
 *   `--splitting` puts each dynamic import's code in its own chunk, read only when first imported.
 * - Identifiers are minified but no property is renamed; nothing in ucri depends on function or class names
 *   (errors carry their kind in an explicit `name`). Stack traces name minified functions: run the unbundled
 *   build (`node dist/cmd/ucri/main.js`) to debug with source maps.
 * - The bundle lives two folders below dist/ as pkg/sys/native.ts does (dist/pkg/sys), so the native helpers
 *   are found at the same relative path (dist/native), and package.json at the same depth as from dist/cmd/ucri.
 * - CommonJS dependencies (grpc-js, pino) call `require` for node built-ins; the banner gives the module one.
 * - A dynamic `import('some-package')` of a CommonJS package yields only its default export in a split
 *   bundle (esbuild), where node gives its named exports too: the build refuses such imports. Lazily loaded
 *   packages are imported statically by a small module of ours, which is imported dynamically
 *   (pkg/mesos/provisioner/stores/appc-deps.ts).
 * - Packages the daemon must not load unless a request needs them (LAZY_PACKAGES: grpc-js, which only the CLI
 *   verbs and tests use as clients; undici; ws; prom-client) are checked: the build fails when one of them is
 *   reachable from an entry point through static imports alone, i.e. loaded when the program starts.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(dist, 'bundle', 'ucri');

/** Entry points of the bundle: the program, and any file node must load by path (worker threads). */
export const ENTRY_POINTS: Record<string, string> = {
  main: path.join(dist, 'cmd', 'ucri', 'main.js'),
  // pkg/image/layer/worker.ts starts `new URL('./worker-main.js', import.meta.url)`: every chunk of the bundle
  // sits in one folder, so the worker must be an entry point of that name there.
  'worker-main': path.join(dist, 'pkg', 'image', 'layer', 'worker-main.js'),
};

/**
 * npm packages no entry point may load at start (each costs the daemon several MiB of RSS; docs/performance.md,
 * "Idle memory, phase 7"): they must sit behind a dynamic import.
 */
const LAZY_PACKAGES: readonly string[] = ['@grpc/grpc-js', 'undici', 'ws', 'prom-client'];

/** The packages of LAZY_PACKAGES that an entry point's static imports reach: one line per entry and package. */
function eagerLazyPackages(metafile: Metafile): string[] {
  const problems: string[] = [];
  for (const [out, o] of Object.entries(metafile.outputs)) {
    // Entry points only: the chunks of dynamic imports have an entryPoint too, and may load anything.
    if (!o.entryPoint || !(path.basename(out, '.js') in ENTRY_POINTS)) continue;
    const seen = new Set<string>();
    const todo = [out];
    while (todo.length > 0) {
      const file = todo.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const imp of metafile.outputs[file]?.imports ?? []) {
        if (imp.kind === 'import-statement' && !imp.external) todo.push(imp.path);
      }
    }
    for (const pkg of LAZY_PACKAGES) {
      const marker = `node_modules/${pkg}/`;
      const file = [...seen].find((f) =>
        Object.keys(metafile.outputs[f]?.inputs ?? {}).some((i) => i.includes(marker)),
      );
      if (file) problems.push(`${path.basename(out)} loads ${pkg} at start (in ${path.basename(file)})`);
    }
  }
  return problems;
}

/** Fails the build on `import('package')`: see the header. Node built-ins and relative paths are fine. */
const noDynamicPackageImports: Plugin = {
  name: 'no-dynamic-package-imports',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.kind !== 'dynamic-import' || args.path.startsWith('node:')) return undefined;
      return {
        errors: [
          {
            text: `dynamic import('${args.path}') in ${path.relative(dist, args.importer)}: import the package statically from a small module of ours and import that module dynamically`,
          },
        ],
      };
    });
  },
};

/**
 * zod's `export * as locales` keeps its ~40 translations (0.26 MB of minified source) in the bundle, where the
 * daemon parses them and keeps their text in the heap; ucri never calls `z.locales`, and zod registers its
 * English messages from locales/en.js itself. The namespace is bundled empty: the daemon starts ~1 MiB smaller
 * (docs/performance.md, "Idle memory, phase 7").
 */
const noZodLocales: Plugin = {
  name: 'no-zod-locales',
  setup(b) {
    b.onLoad({ filter: /zod\/v4\/locales\/index\.js$/ }, () => ({ contents: 'export {}', loader: 'js' }));
  },
};

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: ENTRY_POINTS,
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  banner: {
    js: "import { createRequire as __ucriRequire } from 'node:module';const require = __ucriRequire(import.meta.url);",
  },
  metafile: true,
  plugins: [noDynamicPackageImports, noZodLocales],
});
const eager = eagerLazyPackages(result.metafile);
if (eager.length > 0) {
  console.error(`bundle: ${eager.join('; ')}: import it dynamically (see hack/bundle.ts)`);
  process.exit(1);
}
// The full zod ("classic") must not come back beside zod/mini: schemas import 'zod/mini' (pkg/util/zod-messages.ts).
const classic = Object.keys(result.metafile.inputs).find((i) => i.includes('node_modules/zod/v4/classic/'));
if (classic) {
  console.error(`bundle: ${classic} is bundled: import zod from 'zod/mini' (see pkg/util/zod-messages.ts)`);
  process.exit(1);
}
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(
  `bundle: ${path.relative(process.cwd(), outdir)}, ${Object.keys(result.metafile.outputs).length} files, ${(bytes / 1024).toFixed(0)} KiB`,
);
