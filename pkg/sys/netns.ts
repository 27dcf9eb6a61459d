/**
 * Network namespaces: the net-only face of the namespace pins (namespaces.ts), plus running host programs
 * inside a pinned network namespace (`nsenter --net=PATH`), which is how CNI plugins, `ip` and iptables
 * reach a pod's network without a process of the pod.
 */
import { InvalidArgumentError } from '../util/index.js';
import { createPinnedNamespaces, listPinnedIds, pinPaths, removePinnedNamespaces } from './namespaces.js';
import { type RunOptions, type RunResult, run } from './spawn.js';

/** Path of the network namespace pin of `id` under `pinRoot`. */
export function netnsPath(pinRoot: string, id: string): string {
  return pinPaths(pinRoot, id, ['net']).net!;
}

/** Creates and pins a new network namespace for `id` with `lo` up. See createPinnedNamespaces. */
export async function createNetns(pinRoot: string, id: string, signal?: AbortSignal): Promise<string> {
  const pins = await createPinnedNamespaces(pinRoot, id, { kinds: ['net'], signal });
  return pins.net!;
}

/** Removes the pins of `id` (all kinds; idempotent). */
export async function removeNetns(pinRoot: string, id: string, signal?: AbortSignal): Promise<void> {
  await removePinnedNamespaces(pinRoot, id, signal);
}

/** Ids with pins under `pinRoot`. */
export async function listNetns(pinRoot: string): Promise<string[]> {
  return listPinnedIds(pinRoot);
}

/**
 * Runs `file args…` inside the network namespace pinned at `nsPath` (mount, pid and the rest stay the
 * host's). Same contract as run().
 */
export async function runInNetns(
  nsPath: string,
  file: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  if (!nsPath.startsWith('/')) throw new InvalidArgumentError(`network namespace path "${nsPath}" is not absolute`);
  return run('nsenter', [`--net=${nsPath}`, '--', file, ...args], opts);
}

/** Brings the loopback interface up inside the namespace at `nsPath`. */
export async function loopbackUp(nsPath: string, signal?: AbortSignal): Promise<void> {
  await runInNetns(nsPath, 'ip', ['link', 'set', 'lo', 'up'], { signal });
}
