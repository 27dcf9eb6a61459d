import { constants, promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * Finds an executable: an absolute path is checked as it is, a bare name is looked up in `dirs`
 * (default: $PATH plus the sbin directories root's PATH may lack). Undefined when absent.
 */
export async function findExecutable(nameOrPath: string, dirs?: readonly string[]): Promise<string | undefined> {
  const candidates = nameOrPath.includes('/')
    ? [nameOrPath]
    : (dirs ?? [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'])
        .filter((d) => d.length > 0)
        .map((d) => path.join(d, nameOrPath));
  for (const c of candidates) {
    try {
      await fs.access(c, constants.X_OK);
      const st = await fs.stat(c);
      if (st.isFile()) return c;
    } catch {
      // not here
    }
  }
  return undefined;
}
