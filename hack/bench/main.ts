/**
 * `make bench`: runs ucri's benchmarks and prints their results. Benchmarks are measurements, not tests:
 * nothing here passes or fails on a timing. Each benchmark is a module exporting a `Benchmark`; add one by
 * appending it to BENCHMARKS. `node dist/hack/bench/main.js [name…]` runs only the named ones.
 */
import { configureLogging } from '../../pkg/util/index.js';
import type { Benchmark } from './benchmark.js';
import { pullBenchmark } from './pull.js';
import { runtimeBenchmark } from './runtime.js';

const BENCHMARKS: readonly Benchmark[] = [pullBenchmark, runtimeBenchmark];

async function main(argv: string[]): Promise<number> {
  configureLogging({ silent: true });
  const unknown = argv.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown benchmark(s): ${unknown.join(', ')}; have: ${BENCHMARKS.map((b) => b.name).join(', ')}\n`,
    );
    return 2;
  }
  const selected = argv.length === 0 ? BENCHMARKS : BENCHMARKS.filter((b) => argv.includes(b.name));
  for (const b of selected) {
    process.stdout.write(`== ${b.name}: ${b.description}\n`);
    const lines = await b.run((msg) => process.stdout.write(`   … ${msg}\n`));
    for (const line of lines) process.stdout.write(`   ${line}\n`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
