/**
 * `ucri ps [--socket PATH]`: every container of the daemon, like `crictl ps -a`: CONTAINER (13 characters),
 * IMAGE, CREATED (relative), STATE, NAME, ATTEMPT, POD ID and RUNTIME (the runtime handler, i.e. the
 * containerizer: mesos or docker), oldest first.
 */
import { type Container, ContainerState, type ListContainersResponse } from '../../pkg/cri/gen/cri/v1/api.js';
import { RuntimeServiceClient } from '../../pkg/cri/client.js';
import { clientArgs, table, unary, withClient } from './client.js';

const STATES: Record<number, string> = {
  [ContainerState.CONTAINER_CREATED]: 'Created',
  [ContainerState.CONTAINER_RUNNING]: 'Running',
  [ContainerState.CONTAINER_EXITED]: 'Exited',
  [ContainerState.CONTAINER_UNKNOWN]: 'Unknown',
};

/** `5 seconds ago`, `3 minutes ago`, `2 hours ago`, `4 days ago` from nanoseconds since the epoch. */
export function ago(ns: bigint, nowMs = Date.now()): string {
  const s = Math.max(0, Math.floor((nowMs - Number(ns / 1_000_000n)) / 1000));
  const unit = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'} ago`;
  if (s < 60) return s < 1 ? 'Less than a second ago' : unit(s, 'second');
  if (s < 3600) return unit(Math.floor(s / 60), 'minute');
  if (s < 86400) return unit(Math.floor(s / 3600), 'hour');
  return unit(Math.floor(s / 86400), 'day');
}

/** The IMAGE column: a digest is shortened to 13 characters as crictl does, a name is shown whole. */
function imageColumn(c: Container): string {
  const img = c.image?.image || c.imageRef;
  return img.startsWith('sha256:') ? img.slice(7, 20) : img;
}

/** One table row per container. */
export function psRows(containers: readonly Container[], nowMs = Date.now()): string[][] {
  return [...containers]
    .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0))
    .map((c) => [
      c.id.slice(0, 13),
      imageColumn(c),
      ago(c.createdAt, nowMs),
      STATES[c.state] ?? 'Unknown',
      c.metadata?.name ?? '',
      String(c.metadata?.attempt ?? 0),
      c.podSandboxId.slice(0, 13),
      c.image?.runtimeHandler || 'mesos',
    ]);
}

export async function psCommand(argv: readonly string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { socket, args } = clientArgs(argv);
  if (args.length > 0) {
    process.stderr.write('usage: ucri ps [--socket PATH]\n');
    return 2;
  }
  return withClient('ps', socket, RuntimeServiceClient, async (client) => {
    const res = await unary<ListContainersResponse>((md, o, cb) =>
      client.listContainers({ filter: undefined }, md, o, cb),
    );
    const rows = [
      ['CONTAINER', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'ATTEMPT', 'POD ID', 'RUNTIME'],
      ...psRows(res.containers),
    ];
    out.write(`${table(rows)}\n`);
    return 0;
  });
}
