/**
 * Limits and usage of a cgroup (see cgroups.ts for layout and lifecycle). v1 writes the per-controller
 * files; v2 writes their unified equivalents (cpu.weight, cpu.max, memory.max, memory.low, pids.max).
 */
import path from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../util/index.js';
import {
  type CgroupMode,
  cgroupFileReader,
  controllerDir,
  detectCgroups,
  parseKeyValues,
  readCgroupFile,
  writeCgroupFile,
} from './cgroups.js';

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

/**
 * One cgroup file write of a limit: `value` may depend on the file's current content (v2 `cpu.max` holds
 * quota and period together, so changing one keeps the other).
 */
export interface LimitWrite {
  controller: string;
  file: string;
  value: string | ((current: string | undefined) => string);
}

/**
 * The file writes that set `lim` on a v1/hybrid or v2 host, in order; absent fields are left as they are.
 * Pure, so both hierarchies' file names and unit conversions are tested on any host.
 */
export function limitWrites(mode: CgroupMode, lim: CgroupLimits): LimitWrite[] {
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
  const w: LimitWrite[] = [];
  const add = (controller: string, file: string, value: LimitWrite['value'] | undefined) => {
    if (value !== undefined) w.push({ controller, file, value });
  };
  const opt = <T>(v: T | undefined, f: (v: T) => string) => (v === undefined ? undefined : f(v));
  if (mode === 'v2') {
    add(
      'cpu',
      'cpu.weight',
      opt(lim.cpuShares, (v) => String(sharesToWeight(v))),
    );
    if (lim.cpuQuotaUs !== undefined || lim.cpuPeriodUs !== undefined) {
      const q = lim.cpuQuotaUs;
      add('cpu', 'cpu.max', (current) => {
        const [curQuota, curPeriod] = (current ?? 'max 100000').trim().split(' ');
        const quota = q === undefined ? curQuota : q > 0 ? String(q) : 'max';
        return `${quota} ${lim.cpuPeriodUs ?? curPeriod ?? 100000}`;
      });
    }
    add('cpuset', 'cpuset.cpus', lim.cpusetCpus);
    add('cpuset', 'cpuset.mems', lim.cpusetMems);
    add('memory', 'memory.max', opt(lim.memoryLimitBytes, max));
    add(
      'memory',
      'memory.low',
      opt(lim.memorySoftLimitBytes, (v) => String(Math.max(v, 0))),
    );
    add('pids', 'pids.max', opt(lim.pidsMax, max));
    return w;
  }
  const v1 = (v: number) => (v > 0 ? String(v) : '-1');
  add('cpu', 'cpu.shares', opt(lim.cpuShares, String));
  add('cpu', 'cpu.cfs_period_us', opt(lim.cpuPeriodUs, String));
  add('cpu', 'cpu.cfs_quota_us', opt(lim.cpuQuotaUs, v1));
  add('cpuset', 'cpuset.cpus', lim.cpusetCpus);
  add('cpuset', 'cpuset.mems', lim.cpusetMems);
  add('memory', 'memory.limit_in_bytes', opt(lim.memoryLimitBytes, v1));
  add('memory', 'memory.soft_limit_in_bytes', opt(lim.memorySoftLimitBytes, v1));
  add('pids', 'pids.max', opt(lim.pidsMax, max));
  return w;
}

/** Writes the given limits to cgroup `p`; absent fields are left as they are. */
export async function setCgroupLimits(p: string, lim: CgroupLimits): Promise<void> {
  const l = await detectCgroups();
  for (const w of limitWrites(l.mode, lim)) {
    const d = await controllerDir(p, w.controller);
    if (!d) throw new FailedPreconditionError(`cgroup controller "${w.controller}" is not mounted`);
    const file = path.join(d, w.file);
    await writeCgroupFile(file, typeof w.value === 'string' ? w.value : w.value(await readCgroupFile(file)));
  }
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
export function readCgroupStats(p: string): Promise<CgroupStats> {
  // Callers that ask for the same cgroup at the same moment (the cgroups/* isolators' usage(), run side by
  // side for one stats call) share one set of reads.
  let pending = inFlightStats.get(p);
  if (!pending) {
    pending = readCgroupStatsNow(p).finally(() => inFlightStats.delete(p));
    inFlightStats.set(p, pending);
  }
  return pending;
}

const inFlightStats = new Map<string, Promise<CgroupStats>>();

async function readCgroupStatsNow(p: string): Promise<CgroupStats> {
  const l = await detectCgroups();
  const at = await cgroupFileReader(p);
  // The five reads below are synchronous (cgroupFileReader); a stats call over many cgroups takes them one
  // cgroup per turn of the event loop, so that other calls are not held for all of them at once.
  await new Promise<void>((resolve) => setImmediate(resolve));
  const s: CgroupStats = {};
  const toNum = (t: string | undefined): number | undefined => {
    const v = t?.trim();
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  };
  if (l.mode === 'v2') {
    const cpu = at('cpu', 'cpu.stat');
    const usec = cpu ? parseKeyValues(cpu).get('usage_usec') : undefined;
    if (usec !== undefined) s.cpuUsageNs = BigInt(usec) * 1000n;
  } else {
    const usage = at('cpuacct', 'cpuacct.usage')?.trim();
    if (usage && /^\d+$/.test(usage)) s.cpuUsageNs = BigInt(usage);
  }
  // The same memory figures under v1 and v2 names (v1 reports the hierarchy's totals with a `total_` prefix).
  const mem =
    l.mode === 'v2'
      ? { usage: 'memory.current', stat: '', rss: 'anon', oom: 'memory.events' }
      : { usage: 'memory.usage_in_bytes', stat: 'total_', rss: 'total_rss', oom: 'memory.oom_control' };
  s.memoryUsageBytes = toNum(at('memory', mem.usage));
  const stat = at('memory', 'memory.stat');
  if (stat) {
    const kv = parseKeyValues(stat);
    s.memoryRssBytes = kv.get(mem.rss);
    s.pageFaults = kv.get(`${mem.stat}pgfault`);
    s.majorPageFaults = kv.get(`${mem.stat}pgmajfault`);
    if (s.memoryUsageBytes !== undefined) {
      s.memoryWorkingSetBytes = Math.max(0, s.memoryUsageBytes - (kv.get(`${mem.stat}inactive_file`) ?? 0));
    }
  }
  const oom = at('memory', mem.oom);
  if (oom) s.oomKills = parseKeyValues(oom).get('oom_kill');
  s.pidsCurrent = toNum(at('pids', 'pids.current'));
  return s;
}

/**
 * True when the kernel OOM killer killed a process of cgroup `p`. Call it when the container exits and
 * before its cgroup is removed (`runc delete` removes it): the counter lives in the cgroup.
 */
export async function oomKilled(p: string): Promise<boolean> {
  // Only the one file that holds the counter (read at every container exit, twice: the cgroups/mem
  // isolator's limitation and the containerizer's own check).
  const l = await detectCgroups();
  const text = (await cgroupFileReader(p))('memory', l.mode === 'v2' ? 'memory.events' : 'memory.oom_control');
  return (text === undefined ? 0 : (parseKeyValues(text).get('oom_kill') ?? 0)) > 0;
}
