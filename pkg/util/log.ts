/**
 * Structured logging. One root pino logger writes JSON lines to stderr; each component asks for a named
 * child with `logger('mesos/launcher')`. Debug tracers are switched on per component, without raising the
 * global level, by `UCRI_TRACE=cri,mesos/*` (or `--trace` on the daemon), much like grpc-js's GRPC_TRACE.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

const root: Logger = pino({
  level: process.env.UCRI_LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
});
let baseLevel = root.level;
let silent = false;
let tracers: string[] = parseTrace(process.env.UCRI_TRACE ?? '');
// Children are handed out once and kept by their modules (often at load time), so reconfiguration
// changes their levels in place instead of replacing them.
const children = new Map<string, Logger>();

function parseTrace(spec: string): string[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function traced(component: string): boolean {
  return tracers.some((t) => {
    if (t === '*' || t === 'all') return true;
    if (t.endsWith('/*')) return component === t.slice(0, -2) || component.startsWith(t.slice(0, -1));
    return component === t;
  });
}

function levelFor(component: string): string {
  if (silent) return 'silent';
  return traced(component) ? 'debug' : baseLevel;
}

/** The logger of one component; traced components log at debug level. */
export function logger(component: string): Logger {
  let child = children.get(component);
  if (!child) {
    child = root.child({ c: component });
    child.level = levelFor(component);
    children.set(component, child);
  }
  return child;
}

/** Reconfigures logging (daemon start-up, tests): level, tracer list, or silence. Applies to every logger. */
export function configureLogging(opts: { level?: string; trace?: string; silent?: boolean }): void {
  if (opts.silent !== undefined) silent = opts.silent;
  if (opts.level) baseLevel = opts.level;
  if (opts.trace !== undefined) tracers = parseTrace(opts.trace);
  root.level = silent ? 'silent' : baseLevel;
  for (const [component, child] of children) child.level = levelFor(component);
}
