/**
 * What the client verbs (`ucri ps`, `images`, `inspect`, `pull`) share: their arguments, one connection to the
 * daemon's socket, the 30 s deadline of a unary call, failures printed as `ucri <verb>: <details>` (exit 1),
 * and the output helpers (sizes, crictl-style tables).
 */
import * as grpc from '@grpc/grpc-js';

export const DEFAULT_SOCKET = '/run/ucri/ucri.sock';

/** `--socket=PATH` / `--socket PATH` and positional arguments of a client verb. */
export function clientArgs(
  argv: readonly string[],
  valued: readonly string[] = [],
): { socket: string; values: Record<string, string>; args: string[] } {
  let socket = DEFAULT_SOCKET;
  const values: Record<string, string> = {};
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) {
      args.push(a);
      continue;
    }
    const name = m[1]!;
    if (name !== 'socket' && !valued.includes(name)) throw new Error(`unknown flag "--${name}"`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`flag "--${name}" needs a value`);
    if (name === 'socket') socket = value;
    else values[name] = value;
  }
  return { socket, values, args };
}

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** Column-aligned text, as crictl's tabwriter prints it. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

/** A generated gRPC client class (RuntimeServiceClient, ImageServiceClient, ImagesClient). */
type ClientClass<C> = new (address: string, credentials: grpc.ChannelCredentials) => C;

/**
 * Opens a `Client` on the daemon's unix socket, runs `body` with it and closes it. A failure of `body` is
 * printed as `ucri <verb>: <details>` and answers 1; otherwise `body`'s exit code is returned.
 */
export async function withClient<C extends grpc.Client>(
  verb: string,
  socket: string,
  Client: ClientClass<C>,
  body: (client: C) => Promise<number>,
): Promise<number> {
  const client = new Client(`unix://${socket}`, grpc.credentials.createInsecure());
  try {
    return await body(client);
  } catch (err) {
    const e = err as grpc.ServiceError;
    process.stderr.write(`ucri ${verb}: ${e.details ?? e.message}\n`);
    return 1;
  } finally {
    client.close();
  }
}

/** One unary call as a promise, with the client verbs' deadline: `unary((md, o, cb) => c.listImages(req, md, o, cb))`. */
export function unary<R>(
  start: (
    metadata: grpc.Metadata,
    options: Partial<grpc.CallOptions>,
    done: (err: grpc.ServiceError | null, res: R) => void,
  ) => void,
): Promise<R> {
  return new Promise<R>((resolve, reject) =>
    start(new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (err, res) => (err ? reject(err) : resolve(res))),
  );
}
