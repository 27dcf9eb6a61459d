/**
 * The one rule for object ids that become a path component, a file name or an argument of runc/conmon/CNI:
 * a letter or digit, then letters, digits, `_`, `.` or `-`, at most MAX_ID_LENGTH characters. That admits
 * every id ucri makes (64 hex digits for sandboxes and containers, `<pod id>-infra` for infra containers) and
 * the ids other clients of these layers pick, and rejects anything that could leave a directory (`/`, `..`
 * as a whole name needs a leading dot) or be read as an option (leading `-`). CRI id prefixes never get
 * here: pkg/cri resolves them to full ids first.
 */
import { InvalidArgumentError } from './errors.js';

/** Longest id: runc's limit for container ids. */
export const MAX_ID_LENGTH = 128;

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** True when `id` follows the rule above and is at most `maxLength` characters long. */
export function isValidId(id: string, maxLength = MAX_ID_LENGTH): boolean {
  return id.length <= maxLength && ID_RE.test(id);
}

/** Returns `id` when valid, else InvalidArgumentError naming it as `what` (e.g. "container id"). */
export function checkId(id: string, what = 'id', maxLength = MAX_ID_LENGTH): string {
  if (!isValidId(id, maxLength)) throw new InvalidArgumentError(`invalid ${what} "${id}"`);
  return id;
}
