/** Waits for every promise, then throws the first failure (in list order) if any. */
export async function settleAll(ps: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(ps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
