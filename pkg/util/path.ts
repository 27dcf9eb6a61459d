/**
 * path.join for the daemon's hot paths. The daemon runs without V8's optimising compiler (--max-opt=2,
 * cmd/ucri/node-flags.ts), and there node's path.join, which normalizes its result character by character in
 * JavaScript, costs ~6.5 µs a call on this VM against ~0.05 µs for a concatenation; a container cycle made
 * ~165 joins and a pod cycle ~260, mostly of store paths and cgroup dirs built from parts that are already
 * clean (docs/performance.md, "Phase 11").
 */
import path from 'node:path';

/**
 * The same string as `path.join(...parts)`, for any parts. When the parts joined with `/` are already in
 * normal form (no empty, `.` or `..` segment, no trailing slash) that join is the result, as path.join's
 * normalization would leave it unchanged; anything else is handed to path.join itself.
 */
export function joinPath(...parts: string[]): string {
  const s = parts.join('/');
  if (
    parts.includes('') ||
    s === '' ||
    s.includes('//') ||
    s.includes('/./') ||
    s.includes('/../') ||
    s.endsWith('/') ||
    s.endsWith('/.') ||
    s.endsWith('/..') ||
    s.startsWith('./') ||
    s.startsWith('../') ||
    s === '.' ||
    s === '..'
  ) {
    return path.join(...parts);
  }
  return s;
}
