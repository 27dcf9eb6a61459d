/** Disk usage of a directory tree (container writable layers). */
import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * Disk usage of a tree as du counts it: allocated blocks, each inode once (hard links), not crossing into
 * other filesystems. Entries that vanish during the walk are skipped.
 */
export async function diskUsage(dir: string): Promise<{ bytes: number; inodes: number }> {
  const seen = new Set<string>();
  let bytes = 0;
  const stack = [dir];
  let dev: number | undefined;
  while (stack.length > 0) {
    const p = stack.pop() as string;
    const st = await fs.lstat(p).catch(() => undefined);
    if (!st) continue;
    dev ??= st.dev;
    if (st.dev !== dev) continue;
    const key = `${st.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      bytes += st.blocks * 512;
    }
    if (st.isDirectory()) {
      const names = await fs.readdir(p).catch(() => [] as string[]);
      for (const n of names) stack.push(path.join(p, n));
    }
  }
  return { bytes, inodes: seen.size };
}
