/**
 * Structured logging. One root pino logger writes JSON lines to stderr; each component asks for a named
 * child with `logger('mesos/launcher')`. Debug tracers are switched on per component, without raising the
 * global level, by `UCRI_TRACE=cri,mesos/*` (or `--trace` on the daemon), much like grpc-js's GRPC_TRACE.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

let root: Logger = pino({
  level: process.env.UCRI_LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
});
let tracers: string[] = parseTrace(process.env.UCRI_TRACE ?? '');
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

/** The logger of one component; traced components log at debug level. */
export function logger(component: string): Logger {
  let child = children.get(component);
  if (!child) {
    child = root.child({ c: component });
    if (traced(component)) child.level = 'debug';
    children.set(component, child);
  }
  return child;
}

/** Reconfigures logging (daemon start-up): level, tracer list, or a silent logger for tests. */
export function configureLogging(opts: { level?: string; trace?: string; silent?: boolean }): void {
  if (opts.silent) root = pino({ level: 'silent' });
  else if (opts.level) root.level = opts.level;
  if (opts.trace !== undefined) tracers = parseTrace(opts.trace);
  children.clear();
}
