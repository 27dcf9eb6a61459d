import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { joinPath } from './path.js';
import { UnavailableError } from './errors.js';

/** The standard system directories, in the order a root shell's PATH lists them. */
export const SYSTEM_DIRS: readonly string[] = [
  '/usr/local/sbin',
  '/usr/local/bin',
  '/usr/sbin',
  '/usr/bin',
  '/sbin',
  '/bin',
];

/**
 * Finds an executable: a path (anything with a slash) is checked as it is and returned absolute, a bare name
 * is looked up in `dirs` (default: $PATH plus the sbin directories root's PATH may lack). Undefined when absent.
 */
export async function findExecutable(nameOrPath: string, dirs?: readonly string[]): Promise<string | undefined> {
  const candidates = nameOrPath.includes('/')
    ? [path.resolve(nameOrPath)]
    : (dirs ?? [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'])
        .filter((d) => d.length > 0)
        .map((d) => joinPath(d, nameOrPath));
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

/** Like findExecutable, but UnavailableError when absent. */
export async function requireExecutable(nameOrPath: string, dirs?: readonly string[]): Promise<string> {
  const found = await findExecutable(nameOrPath, dirs);
  if (found !== undefined) return found;
  throw new UnavailableError(
    nameOrPath.includes('/')
      ? `"${nameOrPath}" is not an executable`
      : `"${nameOrPath}" not found in ${(dirs ?? ['$PATH']).join(':')}`,
  );
}
