/**
 * Limits and usage of a cgroup (see cgroups.ts for layout and lifecycle). v1 writes the per-controller
 * files; v2 writes their unified equivalents (cpu.weight, cpu.max, memory.max, memory.low, pids.max).
 */
import path from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../util/index.js';
import { controllerDir, detectCgroups, parseKeyValues, readCgroupFile, writeCgroupFile } from './cgroups.js';

export interface CgroupLimits {
  /** CPU shares (v1 cpu.shares, 2–262144); converted to cpu.weight on v2. */
  cpuShares?: number;
  /** CFS quota in µs per period; 0 or negative = unlimited. */
  cpuQuotaUs?: number;
  /** CFS period in µs (default kernel 100000). */
  cpuPeriodUs?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  /** Hard memory limit in bytes; 0 or negative = unlimited. */
  memoryLimitBytes?: number;
  /** Soft limit / protection in bytes (v1 soft_limit_in_bytes, v2 memory.low). */
  memorySoftLimitBytes?: number;
  /** Max number of tasks; 0 or negative = unlimited. */
  pidsMax?: number;
}

/** The conversion runc and the kubelet use from v1 cpu.shares [2, 262144] to v2 cpu.weight [1, 10000]. */
export function sharesToWeight(shares: number): number {
  if (shares <= 0) return 100;
  const s = Math.min(Math.max(shares, 2), 262144);
  return 1 + Math.floor(((s - 2) * 9999) / 262142);
}

const CPUSET_RE = /^[0-9,\- ]*$/;

/** Writes the given limits to cgroup `p`; absent fields are left as they are. */
export async function setCgroupLimits(p: string, lim: CgroupLimits): Promise<void> {
  const l = await detectCgroups();
  for (const v of [lim.cpusetCpus, lim.cpusetMems]) {
    if (v !== undefined && !CPUSET_RE.test(v)) throw new InvalidArgumentError(`invalid cpuset "${v}"`);
  }
  const num = (v: number | undefined, name: string): void => {
    if (v !== undefined && !Number.isSafeInteger(v)) throw new InvalidArgumentError(`invalid ${name} ${v}`);
  };
  num(lim.cpuShares, 'cpu shares');
  num(lim.cpuQuotaUs, 'cpu quota');
  num(lim.cpuPeriodUs, 'cpu period');
  num(lim.memoryLimitBytes, 'memory limit');
  num(lim.memorySoftLimitBytes, 'memory soft limit');
  num(lim.pidsMax, 'pids limit');
  const dir = async (c: string): Promise<string> => {
    const d = await controllerDir(p, c);
    if (!d) throw new FailedPreconditionError(`cgroup controller "${c}" is not mounted`);
    return d;
  };
  if (l.mode === 'v2') {
    const d = await dir('cpu');
    if (lim.cpuShares !== undefined)
      await writeCgroupFile(path.join(d, 'cpu.weight'), String(sharesToWeight(lim.cpuShares)));
    if (lim.cpuQuotaUs !== undefined || lim.cpuPeriodUs !== undefined) {
      const [curQuota, curPeriod] = ((await readCgroupFile(path.join(d, 'cpu.max'))) ?? 'max 100000').trim().split(' ');
      const quota = lim.cpuQuotaUs === undefined ? curQuota : lim.cpuQuotaUs > 0 ? String(lim.cpuQuotaUs) : 'max';
      await writeCgroupFile(path.join(d, 'cpu.max'), `${quota} ${lim.cpuPeriodUs ?? curPeriod ?? 100000}`);
    }
    if (lim.cpusetCpus !== undefined) await writeCgroupFile(path.join(d, 'cpuset.cpus'), lim.cpusetCpus);
    if (lim.cpusetMems !== undefined) await writeCgroupFile(path.join(d, 'cpuset.mems'), lim.cpusetMems);
    if (lim.memoryLimitBytes !== undefined)
      await writeCgroupFile(path.join(d, 'memory.max'), max(lim.memoryLimitBytes));
    if (lim.memorySoftLimitBytes !== undefined) {
      await writeCgroupFile(path.join(d, 'memory.low'), String(Math.max(lim.memorySoftLimitBytes, 0)));
    }
    if (lim.pidsMax !== undefined) await writeCgroupFile(path.join(d, 'pids.max'), max(lim.pidsMax));
    return;
  }
  if (lim.cpuShares !== undefined)
    await writeCgroupFile(path.join(await dir('cpu'), 'cpu.shares'), String(lim.cpuShares));
  if (lim.cpuPeriodUs !== undefined) {
    await writeCgroupFile(path.join(await dir('cpu'), 'cpu.cfs_period_us'), String(lim.cpuPeriodUs));
  }
  if (lim.cpuQuotaUs !== undefined) {
    await writeCgroupFile(
      path.join(await dir('cpu'), 'cpu.cfs_quota_us'),
      String(lim.cpuQuotaUs > 0 ? lim.cpuQuotaUs : -1),
    );
  }
  if (lim.cpusetCpus !== undefined)
    await writeCgroupFile(path.join(await dir('cpuset'), 'cpuset.cpus'), lim.cpusetCpus);
  if (lim.cpusetMems !== undefined)
    await writeCgroupFile(path.join(await dir('cpuset'), 'cpuset.mems'), lim.cpusetMems);
  if (lim.memoryLimitBytes !== undefined) {
    const v = lim.memoryLimitBytes > 0 ? String(lim.memoryLimitBytes) : '-1';
    await writeCgroupFile(path.join(await dir('memory'), 'memory.limit_in_bytes'), v);
  }
  if (lim.memorySoftLimitBytes !== undefined) {
    const v = lim.memorySoftLimitBytes > 0 ? String(lim.memorySoftLimitBytes) : '-1';
    await writeCgroupFile(path.join(await dir('memory'), 'memory.soft_limit_in_bytes'), v);
  }
  if (lim.pidsMax !== undefined) await writeCgroupFile(path.join(await dir('pids'), 'pids.max'), max(lim.pidsMax));
}

function max(v: number): string {
  return v > 0 ? String(v) : 'max';
}

export interface CgroupStats {
  /** Total CPU time of all tasks, nanoseconds. */
  cpuUsageNs?: bigint;
  memoryUsageBytes?: number;
  /** usage − inactive_file, the number the kubelet evicts on. */
  memoryWorkingSetBytes?: number;
  memoryRssBytes?: number;
  pageFaults?: number;
  majorPageFaults?: number;
  pidsCurrent?: number;
  /** Processes the kernel OOM killer killed in this cgroup. */
  oomKills?: number;
}

/** Reads usage counters of cgroup `p`; a counter is absent when its controller is not available. */
export async function readCgroupStats(p: string): Promise<CgroupStats> {
  const l = await detectCgroups();
  const s: CgroupStats = {};
  const at = async (c: string, f: string): Promise<string | undefined> => {
    const d = await controllerDir(p, c);
    return d ? readCgroupFile(path.join(d, f)) : undefined;
  };
  const toNum = (t: string | undefined): number | undefined => {
    const v = t?.trim();
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  };
  if (l.mode === 'v2') {
    const cpu = await at('cpu', 'cpu.stat');
    const usec = cpu ? parseKeyValues(cpu).get('usage_usec') : undefined;
    if (usec !== undefined) s.cpuUsageNs = BigInt(usec) * 1000n;
  } else {
    const usage = (await at('cpuacct', 'cpuacct.usage'))?.trim();
    if (usage && /^\d+$/.test(usage)) s.cpuUsageNs = BigInt(usage);
  }
  // The same memory figures under v1 and v2 names (v1 reports the hierarchy's totals with a `total_` prefix).
  const mem =
    l.mode === 'v2'
      ? { usage: 'memory.current', stat: '', rss: 'anon', oom: 'memory.events' }
      : { usage: 'memory.usage_in_bytes', stat: 'total_', rss: 'total_rss', oom: 'memory.oom_control' };
  s.memoryUsageBytes = toNum(await at('memory', mem.usage));
  const stat = await at('memory', 'memory.stat');
  if (stat) {
    const kv = parseKeyValues(stat);
    s.memoryRssBytes = kv.get(mem.rss);
    s.pageFaults = kv.get(`${mem.stat}pgfault`);
    s.majorPageFaults = kv.get(`${mem.stat}pgmajfault`);
    if (s.memoryUsageBytes !== undefined) {
      s.memoryWorkingSetBytes = Math.max(0, s.memoryUsageBytes - (kv.get(`${mem.stat}inactive_file`) ?? 0));
    }
  }
  const oom = await at('memory', mem.oom);
  if (oom) s.oomKills = parseKeyValues(oom).get('oom_kill');
  s.pidsCurrent = toNum(await at('pids', 'pids.current'));
  return s;
}

/**
 * True when the kernel OOM killer killed a process of cgroup `p`. Call it when the container exits and
 * before its cgroup is removed (`runc delete` removes it): the counter lives in the cgroup.
 */
export async function oomKilled(p: string): Promise<boolean> {
  return ((await readCgroupStats(p)).oomKills ?? 0) > 0;
}
