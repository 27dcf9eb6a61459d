/**
 * Named crash points for crash-safety tests. `UCRI_CRASH_AT=<verb>:<step>` (read once, after start-up
 * recovery) makes the daemon SIGKILL itself when it reaches that step, exactly as a power cut or an OOM kill would stop it: no
 * finally blocks, no rollback, no flush. Unset (the normal case) every crash point is a single comparison.
 *
 * Each step sits right after a side effect or a checkpoint, so the e2e crash test (test/e2e/crash-points)
 * covers every window between "done" and "recorded": it loops over CRASH_POINTS, restarts the daemon,
 * retries the verb and checks that nothing leaked. A point named here that the code never reaches fails
 * that test, so the table and the code cannot drift apart.
 */

/** Every crash point, by CRI verb, in the order a call passes them. */
export const CRASH_POINTS = {
  RunPodSandbox: ['record', 'pins', 'setup-record', 'network', 'infra-created', 'infra-started', 'ready'],
  CreateContainer: ['record', 'rootfs', 'bundle', 'saved', 'created'],
  StartContainer: ['intent', 'rootfs', 'runtime-created', 'isolated', 'runtime-started', 'running'],
  StopContainer: ['signalled', 'exited'],
  RemoveContainer: ['handed-off', 'runtime-deleted', 'rootfs-released', 'record-removed'],
  StopPodSandbox: ['marked', 'containers-stopped', 'intent', 'network-released', 'infra-stopped', 'stopped'],
  RemovePodSandbox: ['marked', 'containers-removed', 'pod-stopped', 'handed-off', 'network-released', 'pod-removed'],
} as const;

/**
 * Points in work that a verb leaves to the background, so that a crash there may come just after the verb has
 * answered (the release of a removed container or pod, pkg/mesos containers.ts and pod.ts). The crash test accepts either.
 */
export const BACKGROUND_CRASH_POINTS: ReadonlySet<string> = new Set([
  'RemoveContainer:runtime-deleted',
  'RemoveContainer:rootfs-released',
  'RemoveContainer:record-removed',
  'RemovePodSandbox:network-released',
  'RemovePodSandbox:pod-removed',
]);

export type CrashVerb = keyof typeof CRASH_POINTS;
export type CrashStep<V extends CrashVerb> = (typeof CRASH_POINTS)[V][number];

let target: string | undefined;

/**
 * Arms the crash point `UCRI_CRASH_AT` names, if any: `ucri serve` calls it once recovery is done, so the
 * recovery that finishes an interrupted verb (and passes the same steps) never crashes itself.
 */
export function armCrashPoints(): void {
  target = process.env.UCRI_CRASH_AT || undefined;
}

/** SIGKILLs this process when the armed `UCRI_CRASH_AT` names `<verb>:<step>`; otherwise does nothing. */
export function crashPoint<V extends CrashVerb>(verb: V, step: CrashStep<V>): void {
  if (target === undefined || target !== `${verb}:${step}`) return;
  process.stderr.write(`ucri: crash point ${target} reached: SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
}
