/**
 * `ucri port-forward [--socket PATH] [--address ADDR] POD-ID LOCAL:REMOTE` (or `PORT` for both): listens on
 * ADDR:LOCAL (127.0.0.1 by default) and forwards each connection to REMOTE in the pod, as a pair of SPDY
 * streams (`error`, `data`) on one session with the URL of PortForward, like `crictl port-forward`. Runs
 * until interrupted or the session ends. Loaded only when this verb runs.
 */
import net from 'node:net';
import type { ListPodSandboxResponse, PortForwardResponse } from '../../pkg/cri/gen/cri/v1/api.js';
import { RuntimeServiceClient } from '../../pkg/cri/client.js';
import { dialSpdy, openStream } from '../../pkg/cri/streaming/index.js';
import { clientArgs, unary, withClient } from './client.js';

const USAGE = 'usage: ucri port-forward [--socket PATH] [--address ADDR] POD-ID LOCAL:REMOTE\n';

/** `LOCAL:REMOTE` or `PORT`: LOCAL may be 0 (a free port), REMOTE must be 1-65535. */
export function parsePortSpec(spec: string): { local: number; remote: number } | undefined {
  const m = /^(?:(\d{1,5}):)?(\d{1,5})$/.exec(spec);
  if (!m) return undefined;
  const remote = Number(m[2]);
  const local = m[1] === undefined ? remote : Number(m[1]);
  if (remote < 1 || remote > 65535 || local > 65535) return undefined;
  return { local, remote };
}

async function resolvePod(client: RuntimeServiceClient, prefix: string): Promise<string> {
  const res = await unary<ListPodSandboxResponse>((md, o, cb) =>
    client.listPodSandbox({ filter: undefined }, md, o, cb),
  );
  const found = res.items.filter((p) => p.id.startsWith(prefix));
  return found.length === 1 ? found[0]!.id : prefix;
}

export async function portForwardCommand(argv: readonly string[]): Promise<number> {
  const { socket, values, args } = clientArgs(argv, ['address']);
  const spec = args.length === 2 ? parsePortSpec(args[1]!) : undefined;
  if (!spec) {
    process.stderr.write(USAGE);
    return 2;
  }
  const address = values.address ?? '127.0.0.1';
  return withClient('port-forward', socket, RuntimeServiceClient, async (client) => {
    const podSandboxId = await resolvePod(client, args[0]!);
    const { url } = await unary<PortForwardResponse>((md, o, cb) =>
      client.portForward({ podSandboxId, port: [spec.remote] }, md, o, cb),
    );
    const { conn } = await dialSpdy(url, ['portforward.k8s.io']);
    let requestId = 0;
    // Half-open: a client that shuts its sending side still gets the answer.
    const server = net.createServer({ allowHalfOpen: true }, (local) => {
      local.on('error', () => {});
      const headers = { port: String(spec.remote), requestid: String(requestId++) };
      void (async () => {
        const error = await openStream(conn, { ...headers, streamtype: 'error' });
        const data = await openStream(conn, { ...headers, streamtype: 'data' });
        let message = '';
        error.on('data', (c: Buffer) => {
          message += c.toString('utf8');
        });
        error.on('error', () => {});
        data.on('error', () => local.destroy());
        local.pipe(data);
        data.pipe(local);
        // The server ends the data stream (so the local connection, through the pipe) once the pod's side is
        // done, and the error stream after it, with a message if forwarding failed.
        await new Promise((resolve) => {
          error.once('end', resolve);
          error.once('close', resolve);
        });
        if (message !== '') {
          process.stderr.write(`ucri port-forward: ${message.trim()}\n`);
          local.destroy();
        }
      })().catch((err: unknown) => {
        process.stderr.write(`ucri port-forward: ${(err as Error).message}\n`);
        local.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(spec.local, address, () => resolve());
    });
    const bound = (server.address() as net.AddressInfo).port;
    process.stdout.write(`Forwarding from ${address}:${bound} -> ${spec.remote}\n`);
    const why = await new Promise<'ended' | 'signal'>((resolve) => {
      conn.once('close', () => resolve('ended'));
      process.once('SIGINT', () => resolve('signal'));
      process.once('SIGTERM', () => resolve('signal'));
    });
    server.close();
    await conn.close();
    if (why === 'ended') process.stderr.write('ucri port-forward: the streaming session ended\n');
    return why === 'ended' ? 1 : 0;
  });
}
