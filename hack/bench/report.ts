/** The bench's table (stdout) and JSON record (bench-results/<timestamp>.json, git-ignored). */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Samples } from './measures.js';
import type { Memory } from './memory.js';
import { MiB, type Summary, summarize, table } from './stats.js';

export interface MemoryRow {
  name: string;
  values: Map<string, Memory>;
  note?: string;
}

export interface BenchRun {
  startedAt: Date;
  /** os.loadavg() at the start and at the end. */
  load: [number[], number[]];
  containerd: string;
  counts: Record<string, number>;
  quick: boolean;
  samples: Map<string, Samples>;
  memory: MemoryRow[];
  runtimes: string[];
  /** Lines printed under the tables (e.g. a verb one runtime does not serve). */
  notes?: string[];
}

const RESULTS_DIR = 'bench-results';
const f1 = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(1));
const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined || b === undefined || b === 0 ? undefined : a / b;
const fr = (v: number | undefined): string => (v === undefined ? '-' : `${v.toFixed(2)}×`);

/** Writes the JSON record and returns the printed report. */
export async function report(run: BenchRun): Promise<string> {
  const ucri = run.samples.get('ucri') ?? {};
  const cd = run.samples.get('containerd') ?? {};
  const names = [...new Set([...Object.keys(ucri), ...Object.keys(cd)])];
  const measures: Record<string, { ucri?: Summary; containerd?: Summary; ratio?: number; ratioP99?: number }> = {};
  const rows: string[][] = [
    ['measure (ms)', 'n', 'ucri med', 'p90', 'p99', 'ctrd med', 'p90', 'p99', 'ratio med', 'ratio p99', 'ucri p99/med'],
  ];
  for (const name of names) {
    const u = ucri[name] ? summarize(ucri[name]) : undefined;
    const c = cd[name] ? summarize(cd[name]) : undefined;
    const r = ratio(u?.median, c?.median);
    const r99 = ratio(u?.p99, c?.p99);
    measures[name] = { ucri: u, containerd: c, ratio: r, ratioP99: r99 };
    rows.push([
      name,
      String(u?.n ?? c?.n ?? 0),
      f1(u?.median),
      f1(u?.p90),
      f1(u?.p99),
      f1(c?.median),
      f1(c?.p90),
      f1(c?.p99),
      fr(r),
      fr(r99),
      fr(ratio(u?.p99, u?.median)),
    ]);
  }
  const memRows: string[][] = [['memory (MiB)', 'ucri RSS', 'PSS', 'ctrd RSS', 'PSS', 'ratio RSS', 'ratio PSS']];
  const memory: Record<string, unknown> = {};
  for (const m of run.memory) {
    const u = m.values.get('ucri');
    const c = m.values.get('containerd');
    memory[m.name] = { ucri: u, containerd: c, note: m.note };
    memRows.push([
      m.name,
      f1(u && u.rss / MiB),
      f1(u && u.pss / MiB),
      f1(c && c.rss / MiB),
      f1(c && c.pss / MiB),
      fr(ratio(u?.rss, c?.rss)),
      fr(ratio(u?.pss, c?.pss)),
    ]);
  }
  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  const stamp = run.startedAt
    .toISOString()
    .replaceAll(':', '-')
    .replace(/\.\d+Z$/, 'Z');
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${stamp}.json`);
  await writeFile(
    file,
    `${JSON.stringify({ ...run, samples: Object.fromEntries(run.samples), measures, memory }, null, 2)}\n`,
  );
  const notes = [...run.memory.filter((m) => m.note).map((m) => `${m.name}: ${m.note}`), ...(run.notes ?? [])];
  return [
    `bench ${run.startedAt.toISOString()} (${run.quick ? 'QUICK' : 'full'}), ${run.runtimes.join(' vs ')}; ${run.containerd}`,
    `load average at start ${load(run.load[0])}, at end ${load(run.load[1])} (2 cores; noisy when others run)`,
    'ratio = ucri / containerd (below 1: ucri is faster or smaller); same client, images, CNI config, sequence',
    '',
    table(rows),
    '',
    table(memRows),
    ...notes,
    '',
    `JSON: ${file}`,
    '',
  ].join('\n');
}
