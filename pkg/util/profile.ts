/**
 * Cost accounting for performance work, off unless `UCRI_PROFILE=<file>` is set: per CRI RPC, the count and
 * time of every child process (by program and first argument) and of the event-loop time its start held
 * (`fork …`), every atomic file write and fsync, and the RPC itself; and the daemon's event-loop delay. The RPC a cost belongs to is carried by an AsyncLocalStorage set at the gRPC edge; costs outside any
 * RPC (start-up, background work) go under `-`. The totals are written to the file as JSON when the process
 * exits. Nothing here changes behaviour; when off, every hook is a single boolean test.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Count and total milliseconds of one kind of cost. */
export interface CostTotal {
  count: number;
  ms: number;
}

const file = process.env.UCRI_PROFILE;
/** True when cost accounting is on. */
export const profiling = file !== undefined && file !== '';
const context = new AsyncLocalStorage<string>();
const totals = new Map<string, Map<string, CostTotal>>();

/** Runs `fn` with costs attributed to `rpc` (a plain call when profiling is off). */
export function withCostScope<T>(rpc: string, fn: () => T): T {
  return profiling ? context.run(rpc, fn) : fn();
}

/** The RPC costs are attributed to now (undefined outside any RPC or when not profiling). */
export function costScope(): string | undefined {
  return profiling ? context.getStore() : undefined;
}

/** Adds one cost of `ms` under `name` (e.g. `spawn runc create`) to `scope` (default: the current RPC). */
export function addCost(name: string, ms: number, scope?: string): void {
  if (!profiling) return;
  const rpc = scope ?? context.getStore() ?? '-';
  let byName = totals.get(rpc);
  if (!byName) {
    byName = new Map();
    totals.set(rpc, byName);
  }
  const t = byName.get(name) ?? { count: 0, ms: 0 };
  t.count++;
  t.ms += ms;
  byName.set(name, t);
}

/** Times `fn` as a cost named `name` (only when profiling). */
export async function costOf<T>(name: string, fn: () => Promise<T>): Promise<T> {
  if (!profiling) return fn();
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    addCost(name, performance.now() - t0);
  }
}

/** The totals so far, per RPC then per cost name. */
export function costTotals(): Record<string, Record<string, CostTotal>> {
  const out: Record<string, Record<string, CostTotal>> = {};
  for (const [rpc, byName] of totals) out[rpc] = Object.fromEntries(byName);
  return out;
}

if (profiling) {
  // How long the event loop was held up (a spawn's fork and exec wait, GC, long synchronous work), over the
  // daemon's life: written under the pseudo-RPC "(event loop)" as `delay p50` etc. (count = samples).
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  process.on('exit', () => {
    delay.disable();
    const out: Record<string, Record<string, CostTotal>> = costTotals();
    const n = delay.count;
    const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3;
    out['(event loop)'] = {
      'delay mean': { count: n, ms: ms(delay.mean) },
      'delay p50': { count: n, ms: ms(delay.percentile(50)) },
      'delay p99': { count: n, ms: ms(delay.percentile(99)) },
      'delay max': { count: n, ms: ms(delay.max) },
    };
    writeFileSync(file as string, `${JSON.stringify(out, null, 1)}\n`);
  });
}
