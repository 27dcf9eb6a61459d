/**
 * Killing a process with all its descendants, and waiting until they are gone from /proc (reaped), for
 * exec sessions: a timed-out ExecSync or an abandoned streaming exec must leave nothing running in the
 * container when ucri answers. Processes are found by their parent links in /proc, so a descendant that
 * was already re-parented to the container's init before we looked escapes; stopping the tree first
 * (SIGSTOP) keeps it from forking more while we look.
 */
import { promises as fs } from 'node:fs';
import { parseProcStat, sleep, type ProcStat } from './proc.js';

/** Every process on the host by pid, from /proc/<pid>/stat (processes that vanish while read are skipped). */
async function snapshot(): Promise<Map<number, ProcStat>> {
  const out = new Map<number, ProcStat>();
  const names = await fs.readdir('/proc');
  await Promise.all(
    names.map(async (n) => {
      if (!/^\d+$/.test(n)) return;
      try {
        const st = parseProcStat(await fs.readFile(`/proc/${n}/stat`, 'utf8'));
        out.set(st.pid, st);
      } catch {
        // gone meanwhile
      }
    }),
  );
  return out;
}

/** `roots` and their live descendants in `procs`, by parent links, with each one's depth below a root. */
function descendants(procs: Map<number, ProcStat>, roots: Iterable<number>): Map<number, number> {
  const children = new Map<number, number[]>();
  for (const st of procs.values()) {
    const list = children.get(st.ppid);
    if (list) list.push(st.pid);
    else children.set(st.ppid, [st.pid]);
  }
  const found = new Map<number, number>();
  const queue: [number, number][] = [...roots].filter((p) => procs.has(p)).map((p) => [p, 0]);
  while (queue.length > 0) {
    const [p, depth] = queue.shift()!;
    if (found.has(p)) continue;
    found.set(p, depth);
    for (const c of children.get(p) ?? []) queue.push([c, depth + 1]);
  }
  return found;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * SIGKILLs `pid` and every descendant, and returns their pids with start times (for waitGone). The tree is
 * stopped first and re-read until no new member appears, so a forking process cannot outrun us.
 * When `startTime` is given and `pid` has another, nothing is done (the pid was reused).
 */
export async function killProcessTree(pid: number, startTime?: bigint): Promise<Map<number, bigint>> {
  let procs = await snapshot();
  const root = procs.get(pid);
  if (!root || (startTime !== undefined && root.startTime !== startTime)) return new Map();
  const members = new Map<number, { start: bigint; depth: number }>();
  for (let round = 0; round < 50; round++) {
    let added = 0;
    for (const [p, depth] of descendants(procs, [pid])) {
      const st = procs.get(p)!;
      if (members.get(p)?.start === st.startTime) continue;
      members.set(p, { start: st.startTime, depth });
      signal(p, 'SIGSTOP');
      added++;
    }
    if (added === 0) break;
    procs = await snapshot();
  }
  // All at once, still stopped: letting a parent run so that it reaps its children would let it go on
  // with its script. A child that dies after its parent is re-parented to the container's init and stays
  // a zombie if that init never reaps (busybox `sleep`, `top`); a pod's pause process does reap.
  for (const p of members.keys()) signal(p, 'SIGKILL');
  return new Map([...members].map(([p, m]) => [p, m.start]));
}

/**
 * Resolves once none of `pids` exists any more with its recorded start time (exited and reaped), or after
 * `timeoutMs`; returns the pids still present then. A zombie whose parent is outside the set (re-parented to
 * the container's init) counts as gone: only that init can reap it.
 */
export async function waitGone(pids: Map<number, bigint>, timeoutMs = 5000): Promise<number[]> {
  const until = Date.now() + timeoutMs;
  let left = [...pids.entries()];
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    const still: [number, bigint][] = [];
    for (const [p, start] of left) {
      try {
        const st = parseProcStat(await fs.readFile(`/proc/${p}/stat`, 'utf8'));
        // A zombie adopted by a process outside the set (the container's init) is its to reap, not ours.
        const adopted = st.state === 'Z' && !pids.has(st.ppid);
        if (st.startTime === start && !adopted) still.push([p, start]);
      } catch {
        // gone
      }
    }
    left = still;
    if (left.length === 0 || Date.now() >= until) return left.map(([p]) => p);
    await sleep(delay);
  }
}
