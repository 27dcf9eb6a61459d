/**
 * Memory of a runtime's processes as the kernel reports it: RSS (VmRSS) and PSS (smaps_rollup, which shares
 * pages such as the ones of a common binary fairly between the processes that map them).
 */
import { readdir, readFile } from 'node:fs/promises';

export interface Memory {
  rss: number;
  pss: number;
}

/** One process of the host, from /proc. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  /** argv joined by NUL. */
  cmdline: string;
}

/** RSS and PSS of one process in bytes (zeros when it is gone). */
export async function memoryOf(pid: number): Promise<Memory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  const pss = /^Pss:\s+(\d+) kB/m.exec(rollup);
  return { rss: rss ? Number(rss[1]) * 1024 : 0, pss: pss ? Number(pss[1]) * 1024 : 0 };
}

/** Sum of the memory of several processes. */
export async function memoryOfAll(pids: readonly number[]): Promise<Memory> {
  const out = { rss: 0, pss: 0 };
  for (const pid of pids) {
    const m = await memoryOf(pid);
    out.rss += m.rss;
    out.pss += m.pss;
  }
  return out;
}

/** Every process of the host (those that vanish while read are skipped). */
export async function processes(): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'latin1').catch(() => '');
    // The command name in parentheses may hold spaces; the fields after its closing paren are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields.length < 2) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'latin1').catch(() => '');
    out.push({ pid: Number(name), ppid: Number(fields[1]), cmdline });
  }
  return out;
}

/**
 * The helper processes a runtime keeps per pod: the monitors `isMonitor` picks (conmon, shims) and those of
 * their children that are not the workload (ucri's infra process, containerd's pause).
 */
export async function helperProcesses(
  isMonitor: (p: ProcInfo) => boolean,
  isWorkload: (p: ProcInfo) => boolean,
): Promise<{ monitors: number[]; others: number[] }> {
  const all = await processes();
  const monitors = all.filter(isMonitor);
  const ids = new Set(monitors.map((p) => p.pid));
  const others = all.filter((p) => ids.has(p.ppid) && !ids.has(p.pid) && !isWorkload(p)).map((p) => p.pid);
  return { monitors: monitors.map((p) => p.pid), others };
}
