import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type LimitWrite, limitWrites } from '../../../pkg/sys/index.js';

/** The writes as `controller/file=value`, a function value evaluated against `current`. */
function show(ws: LimitWrite[], current?: string): string[] {
  return ws.map((w) => `${w.controller}/${w.file}=${typeof w.value === 'string' ? w.value : w.value(current)}`);
}

describe('cgroup limit writes', () => {
  const lim = { cpuShares: 1024, cpuQuotaUs: 60_000, cpuPeriodUs: 100_000, memoryLimitBytes: 128 << 20, pidsMax: 64 };

  it('uses the v1 files and units', () => {
    assert.deepEqual(show(limitWrites('hybrid', lim)), [
      'cpu/cpu.shares=1024',
      'cpu/cpu.cfs_period_us=100000',
      'cpu/cpu.cfs_quota_us=60000',
      `memory/memory.limit_in_bytes=${128 << 20}`,
      'pids/pids.max=64',
    ]);
    assert.deepEqual(show(limitWrites('v1', { cpuQuotaUs: -1, memoryLimitBytes: -1, pidsMax: -1 })), [
      'cpu/cpu.cfs_quota_us=-1',
      'memory/memory.limit_in_bytes=-1',
      'pids/pids.max=max',
    ]);
  });

  it('uses the v2 files: weight from shares, quota and period in cpu.max, max for unlimited', () => {
    assert.deepEqual(show(limitWrites('v2', lim)), [
      'cpu/cpu.weight=39',
      'cpu/cpu.max=60000 100000',
      `memory/memory.max=${128 << 20}`,
      'pids/pids.max=64',
    ]);
    assert.deepEqual(show(limitWrites('v2', { cpuQuotaUs: -1, memoryLimitBytes: -1, pidsMax: -1 }), '5000 50000'), [
      'cpu/cpu.max=max 50000',
      'memory/memory.max=max',
      'pids/pids.max=max',
    ]);
    // Changing only the period keeps the quota already in cpu.max.
    assert.deepEqual(show(limitWrites('v2', { cpuPeriodUs: 20_000 }), '5000 50000'), ['cpu/cpu.max=5000 20000']);
  });

  it('refuses values the kernel would misread', () => {
    assert.throws(() => limitWrites('v2', { cpusetCpus: '0;1' }), /invalid cpuset/);
    assert.throws(() => limitWrites('v1', { memoryLimitBytes: 1.5 }), /invalid memory limit/);
  });
});
