/** Reading ginkgo's output: the closing summary (failure list and counts) that the harness prints again. */

/** Ginkgo's closing lines, from "Summarizing N Failures" (or "Ran N of M Specs" when nothing failed) on. */
export function ginkgoSummary(output: string): string {
  const lines = output.split('\n');
  const start = lines.findIndex((l) => /^Summarizing \d+ Failure/.test(l));
  const ran = lines.findIndex((l) => /^Ran \d+ of \d+ Specs/.test(l));
  const from = start >= 0 ? start : ran;
  if (from < 0) return '(no ginkgo summary in the output)';
  return lines
    .slice(from)
    .filter((l) => l.trim() !== '')
    .join('\n');
}

/** The counts of ginkgo's result line (`FAIL! -- 68 Passed | 11 Failed | 0 Pending | 6 Skipped`), if present. */
export function ginkgoCounts(
  output: string,
): { passed: number; failed: number; pending: number; skipped: number } | undefined {
  const m = /(\d+) Passed \| (\d+) Failed \| (\d+) Pending \| (\d+) Skipped/.exec(output);
  if (!m) return undefined;
  return { passed: Number(m[1]), failed: Number(m[2]), pending: Number(m[3]), skipped: Number(m[4]) };
}
