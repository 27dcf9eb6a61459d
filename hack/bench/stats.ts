/** Small statistics and formatting helpers for the benchmarks (timings are printed, never asserted). */

/** The q-quantile (0..1) of a sample, by nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** Median, p90 and p99 of a sample. */
export interface Summary {
  n: number;
  median: number;
  p90: number;
  p99: number;
}

export function summarize(values: readonly number[]): Summary {
  return { n: values.length, median: quantile(values, 0.5), p90: quantile(values, 0.9), p99: quantile(values, 0.99) };
}

/** Milliseconds elapsed while `fn` runs. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value };
}

export const MiB = 1024 * 1024;

/** Prints rows as an aligned table. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}
