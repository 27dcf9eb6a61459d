/**
 * The filters of the List* calls: an id (a prefix matches, as crictl users type short ids), a state, a pod
 * and a label selector (every key must be present with the same value).
 */

/** True when `id` is selected by the filter id (empty: every id). */
export function matchId(id: string, filter: string | undefined): boolean {
  return !filter || id.startsWith(filter);
}

/** True when every selector label is set to the same value in `labels`. */
export function matchLabels(
  labels: Readonly<Record<string, string>>,
  selector: Readonly<Record<string, string>> | undefined,
): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}
