/**
 * Errors for a failed system call whose errno came from native code (an addon's answer, a helper's line), in the
 * shape node's own fs errors have, so that callers test `code` as they would for node's.
 */
import { getSystemErrorName } from 'node:util';

/** node's name for the positive `errno` (ENOENT, ENOTSUP…); `errno N` when node refuses the number. */
export function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

/** An Error with `code`, `errno` (negative, as node's), `syscall` and `path`, for `syscall` failing on `path`. */
export function errnoError(errno: number, syscall: string, path: string): NodeJS.ErrnoException {
  const code = errnoName(errno);
  const err = new Error(`${code}: ${syscall} "${path}"`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  err.path = path;
  return err;
}
