/**
 * Layering check (run by `make lint`): fails on any import cycle between source files and on any import
 * against the direction drawn in ARCHITECTURE.md:
 *
 *   cmd → pkg/cri → pkg/containerizer ← pkg/mesos, pkg/docker → pkg/cni, pkg/image, pkg/oci, pkg/sys → pkg/util
 *         pkg/cri → pkg/grpc (ucri's gRPC server) → pkg/h2 (HTTP/2 on the socket, HPACK) → pkg/util
 *
 * It also enforces "no deep imports across module folders": another pkg module is reached only through
 * its index.ts. Inside pkg/mesos, the isolator table, the launcher and the provisioner are the containerizer's
 * parts: only pkg/mesos/containerizer/ (and the module's index.ts, re-exporting) imports them. It reads the
 * TypeScript sources with a small import scanner (no compiler needed).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** Which pkg modules each module may import (besides itself). cmd, test and hack may import anything. */
export const ALLOWED: Record<string, readonly string[]> = {
  util: [],
  h2: ['util'],
  grpc: ['h2', 'util'],
  sys: ['util'],
  oci: ['sys', 'util'],
  image: ['sys', 'util'],
  cni: ['sys', 'util'],
  containerizer: ['util'],
  mesos: ['cni', 'containerizer', 'image', 'oci', 'sys', 'util'],
  docker: ['cni', 'containerizer', 'image', 'sys', 'util'],
  cri: ['containerizer', 'grpc', 'util'],
};

/** pkg/mesos parts that only the containerizer folder may import: the file or folder, and its name in messages. */
const MESOS_PARTS: ReadonlyArray<readonly [string, string]> = [
  ['pkg/mesos/isolators/index.ts', 'the isolator table'],
  ['pkg/mesos/launcher/', 'the launcher'],
  ['pkg/mesos/provisioner/', 'the provisioner'],
];
const MESOS_OWNERS = ['pkg/mesos/containerizer/', 'pkg/mesos/index.ts'];

/** A problem when a pkg/mesos file outside the containerizer reaches into one of its parts. */
function mesosPartProblem(rel: string, target: string): string | undefined {
  if (!rel.startsWith('pkg/mesos/') || MESOS_OWNERS.some((o) => rel.startsWith(o))) return undefined;
  for (const [where, name] of MESOS_PARTS) {
    const home = where.endsWith('/') ? where : `${path.dirname(where)}/`;
    if (target.startsWith(where) && !rel.startsWith(home)) {
      return `${rel}: only pkg/mesos/containerizer imports ${name} (${target})`;
    }
  }
  return undefined;
}

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === 'gen' || name.startsWith('.')) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
}

/** Module of a repo-relative file: `pkg/<m>/...` → m; cmd/test/hack → their top folder. */
function moduleOf(rel: string): string {
  const parts = rel.split('/');
  return parts[0] === 'pkg' ? (parts[1] ?? '') : `:${parts[0]}`;
}

export function check(root: string): string[] {
  const files: string[] = [];
  for (const top of ['cmd', 'pkg', 'test', 'hack']) {
    try {
      walk(path.join(root, top), files);
    } catch {
      // folder absent
    }
  }
  const problems: string[] = [];
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const rel = path.relative(root, file);
    const src = readFileSync(file, 'utf8');
    const deps: string[] = [];
    for (const m of src.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2];
      if (!spec?.startsWith('.')) continue;
      const target = path.relative(root, path.resolve(path.dirname(file), spec)).replace(/\.js$/, '.ts');
      deps.push(target);
      const part = mesosPartProblem(rel, target);
      if (part) problems.push(part);
      const from = moduleOf(rel);
      const to = moduleOf(target);
      if (from.startsWith(':') || from === to) continue;
      if (to.startsWith(':')) {
        problems.push(`${rel}: pkg code imports ${target}`);
        continue;
      }
      if (!(ALLOWED[from] ?? []).includes(to)) problems.push(`${rel}: pkg/${from} must not import pkg/${to}`);
      if (path.basename(target) !== 'index.ts' || path.dirname(target) !== `pkg/${to}`) {
        problems.push(`${rel}: deep import ${target}; use pkg/${to}/index.ts`);
      }
    }
    graph.set(rel, deps);
  }
  // Cycle detection over files (iterative DFS with colours).
  const colour = new Map<string, number>();
  const visit = (start: string): void => {
    const stack: Array<[string, number]> = [[start, 0]];
    const trail: string[] = [start];
    colour.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const deps = graph.get(top[0]) ?? [];
      if (top[1] >= deps.length) {
        colour.set(top[0], 2);
        stack.pop();
        trail.pop();
        continue;
      }
      const next = deps[top[1]++]!;
      if (!graph.has(next)) continue;
      const c = colour.get(next) ?? 0;
      if (c === 1) problems.push(`import cycle: ${[...trail.slice(trail.indexOf(next)), next].join(' → ')}`);
      else if (c === 0) {
        colour.set(next, 1);
        stack.push([next, 0]);
        trail.push(next);
      }
    }
  };
  for (const f of graph.keys()) if (!colour.has(f)) visit(f);
  return problems;
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
  const problems = check(root);
  for (const p of problems) console.error(p);
  if (problems.length > 0) {
    console.error(`layering: ${problems.length} problem(s)`);
    process.exit(1);
  }
  console.log('layering: ok');
}
