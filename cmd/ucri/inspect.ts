/**
 * `ucri inspect [--socket PATH] ID`: the verbose ContainerStatus of one container (full id or a unique
 * prefix) as JSON, like `crictl inspect`: `status` with enum names and RFC 3339 times, and `info` parsed
 * from the runtime's JSON (pod id, pid, Mesos state, spec).
 */
import { RuntimeServiceClient } from '../../pkg/cri/client.js';
import { type ContainerStatusResponse, ContainerStatus } from '../../pkg/cri/gen/cri/v1/api.js';
import { clientArgs, unary, withClient } from './client.js';

/** Nanoseconds since the epoch → RFC 3339 with nanoseconds (`0` stays unset). */
function rfc3339(ns: bigint): string {
  if (ns === 0n) return '';
  const ms = ns / 1_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return new Date(Number(ms)).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
}

/** The JSON document `ucri inspect` prints. */
export function inspectDocument(res: ContainerStatusResponse): Record<string, unknown> {
  const status = res.status ? (ContainerStatus.toJSON(res.status) as Record<string, unknown>) : {};
  if (res.status) {
    status.createdAt = rfc3339(res.status.createdAt);
    status.startedAt = rfc3339(res.status.startedAt);
    status.finishedAt = rfc3339(res.status.finishedAt);
  }
  const info: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(res.info)) {
    try {
      info[k] = JSON.parse(v) as unknown;
    } catch {
      info[k] = v;
    }
  }
  return { status, info };
}

export async function inspectCommand(
  argv: readonly string[],
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const { socket, args } = clientArgs(argv);
  if (args.length !== 1) {
    process.stderr.write('usage: ucri inspect [--socket PATH] CONTAINER-ID\n');
    return 2;
  }
  return withClient('inspect', socket, RuntimeServiceClient, async (client) => {
    const res = await unary<ContainerStatusResponse>((md, o, cb) =>
      client.containerStatus({ containerId: args[0]!, verbose: true }, md, o, cb),
    );
    out.write(`${JSON.stringify(inspectDocument(res), null, 2)}\n`);
    return 0;
  });
}
