/**
 * The rule for `Resources.unified` keys, shared by the CRI edge and the containerizers: a key names one
 * cgroup v2 interface file of the container's own cgroup, so it must be a plain file name of the
 * `<controller>.<setting>` form (`memory.high`, `hugetlb.2MB.max`). Paths (`../../cgroup.procs`) and the
 * core files that move processes or reshape the tree are refused: they are no resource settings, and
 * writing them would let a request act on cgroups outside its container.
 */
const KEY = /^[a-z][a-z0-9_]*\.[A-Za-z0-9_.-]+$/;
/** Core interface files that are resource limits; the other `cgroup.*` files are not settings. */
const CGROUP_LIMITS = new Set(['cgroup.max.depth', 'cgroup.max.descendants']);

/** Why a unified setting is refused, or undefined when it is acceptable. */
export function unifiedSettingProblem(key: string, value: string): string | undefined {
  if (!KEY.test(key) || key.includes('..')) return `"${key}" is not a cgroup interface file name`;
  if (key.startsWith('cgroup.') && !CGROUP_LIMITS.has(key)) return `"${key}" is not a resource setting`;
  if (/[\n\0]/.test(value)) return `the value of "${key}" must be one line without NUL`;
  return undefined;
}
