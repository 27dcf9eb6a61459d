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

/** Entry points of the program's bundle (split into chunks shared between them). */
export const ENTRY_POINTS: Record<string, string> = {
  main: path.join(dist, 'cmd', 'ucri', 'main.js'),
};

/**
 * The layer worker's thread (pkg/image/layer/worker.ts) is built apart, as one CommonJS file holding only what
 * a layer job runs: it starts on a cold pull's critical path, and a thread that loaded the program's shared
 * chunks (pino and all of pkg/util among them) as an ES module took ~15 ms more CPU to become ready, ~5 ms of
 * them the ES module loader (docs/performance.md, "PullImage cold start, phase 8"). Its own build lets esbuild
 * drop the parts of pkg/util it does not use, which a chunk shared with the daemon cannot: pkg/util/*.js are
 * marked free of side effects there, so a module none of whose exports the worker uses (log.js, which creates
 * pino's root logger at load) is left out. worker.ts finds the file by the name defined here (WORKER_FILE).
 */
export const WORKER_ENTRY = path.join(dist, 'pkg', 'image', 'layer', 'worker-main.js');
export const WORKER_FILE = 'layer-worker.cjs';

/** npm packages the worker's file must not contain (the check fails the build): they only cost its start-up. */
const NOT_IN_WORKER: readonly string[] = ['pino', 'zod', '@grpc/grpc-js', 'undici', 'ws', 'prom-client'];

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

/** Marks ucri's pkg/util modules free of side effects (the worker's build only; see WORKER_ENTRY). */
const utilWithoutSideEffects: Plugin = {
  name: 'util-without-side-effects',
  setup(b) {
    const util = path.join(dist, 'pkg', 'util') + path.sep;
    b.onResolve({ filter: /^\.{1,2}\// }, (args) => {
      const abs = path.resolve(args.resolveDir, args.path);
      return abs.startsWith(util) ? { path: abs, sideEffects: false } : undefined;
    });
  },
};

/** The packages of NOT_IN_WORKER that the worker's file holds. */
function packagesInWorker(metafile: Metafile): string[] {
  const inputs = Object.values(metafile.outputs).flatMap((o) => Object.keys(o.inputs));
  return NOT_IN_WORKER.filter((pkg) => inputs.some((i) => i.includes(`node_modules/${pkg}/`)));
}

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

const common = {
  bundle: true,
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
} as const;

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  ...common,
  entryPoints: ENTRY_POINTS,
  outdir,
  splitting: true,
  define: { __UCRI_LAYER_WORKER_FILE__: JSON.stringify(`./${WORKER_FILE}`) },
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
const worker = await build({
  ...common,
  format: 'cjs',
  banner: {},
  entryPoints: [WORKER_ENTRY],
  outfile: path.join(outdir, WORKER_FILE),
  plugins: [noDynamicPackageImports, utilWithoutSideEffects],
  // pkg/util's index imports zod-messages.js for its side effect (zod's English messages), which the worker,
  // with pkg/util side-effect free and no zod, drops on purpose. pkg/util/addon.ts finds the addons from
  // `import.meta.url`, empty in CommonJS: the worker goes without them (and renames), on purpose too.
  logOverride: { 'ignored-bare-import': 'silent', 'empty-import-meta': 'silent' },
});
const inWorker = packagesInWorker(worker.metafile);
if (inWorker.length > 0) {
  console.error(
    `bundle: ${WORKER_FILE} holds ${inWorker.join(', ')}: the layer worker must not load them (see hack/bundle.ts)`,
  );
  process.exit(1);
}
const outputs = [...Object.values(result.metafile.outputs), ...Object.values(worker.metafile.outputs)];
const bytes = outputs.reduce((n, o) => n + o.bytes, 0);
const workerBytes = Object.values(worker.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(
  `bundle: ${path.relative(process.cwd(), outdir)}, ${outputs.length} files, ${(bytes / 1024).toFixed(0)} KiB (${WORKER_FILE} ${(workerBytes / 1024).toFixed(0)} KiB)`,
);
