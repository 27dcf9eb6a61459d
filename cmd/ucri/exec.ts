/**
 * `ucri exec [-i] [-t] [--socket PATH] ID CMD…` and `ucri attach [-i] [-t] [--socket PATH] ID`: ask the
 * daemon for a streaming URL (Exec / Attach) and speak SPDY to it, like `crictl exec` / `crictl attach`.
 * With `-t` and a terminal on stdin, the local terminal is put in raw mode without output processing (the
 * remote terminal already turns `\n` into `\r\n`; doing it twice shows `\r\r\n`) and window changes are sent
 * as resizes. `exec` exits with the remote process's exit code. Loaded only when one of these verbs runs.
 */
import { spawnSync } from 'node:child_process';
import type { AttachResponse, ExecResponse, ListContainersResponse } from '../../pkg/cri/gen/cri/v1/api.js';
import { RuntimeServiceClient } from '../../pkg/cri/client.js';
import { type RemoteCommandIo, runRemoteCommandSpdy } from '../../pkg/cri/streaming/index.js';
import { DEFAULT_SOCKET, unary, withClient } from './client.js';

interface StreamArgs {
  socket: string;
  stdin: boolean;
  tty: boolean;
  /** The container id (or a unique prefix), then the command for exec. */
  rest: string[];
}

/** Flags come before the id; everything after the id is the command, flags included. */
export function parseStreamArgs(argv: readonly string[]): StreamArgs {
  const out: StreamArgs = { socket: DEFAULT_SOCKET, stdin: false, tty: false, rest: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    const m = /^--socket(?:=(.*))?$/.exec(a);
    if (m) {
      const v = m[1] ?? argv[++i];
      if (v === undefined) throw new Error('flag "--socket" needs a value');
      out.socket = v;
      continue;
    }
    if (a === '--stdin' || a === '--interactive') out.stdin = true;
    else if (a === '--tty') out.tty = true;
    else if (/^-[it]+$/.test(a)) {
      if (a.includes('i')) out.stdin = true;
      if (a.includes('t')) out.tty = true;
    } else throw new Error(`unknown flag "${a}"`);
  }
  out.rest = argv.slice(i);
  return out;
}

/** The full id of the one container whose id starts with `prefix`. */
async function resolveContainer(client: RuntimeServiceClient, prefix: string): Promise<string> {
  const res = await unary<ListContainersResponse>((md, o, cb) =>
    client.listContainers({ filter: undefined }, md, o, cb),
  );
  const found = res.containers.filter((c) => c.id.startsWith(prefix));
  if (found.length === 1) return found[0]!.id;
  // Unknown or ambiguous: let the daemon say so for the id as given.
  return prefix;
}

/** Raw terminal without output processing; returns the function that puts it back. */
function rawTerminal(): () => void {
  const saved = spawnSync('stty', ['-g'], { stdio: ['inherit', 'pipe', 'ignore'], encoding: 'utf8' }).stdout.trim();
  process.stdin.setRawMode(true);
  spawnSync('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] });
  return () => {
    process.stdin.setRawMode(false);
    if (saved !== '') spawnSync('stty', [saved], { stdio: ['inherit', 'ignore', 'ignore'] });
  };
}

async function stream(verb: 'exec' | 'attach', argv: readonly string[]): Promise<number> {
  const args = parseStreamArgs(argv);
  const [id, ...cmd] = args.rest;
  if (!id || (verb === 'exec' && cmd.length === 0) || (verb === 'attach' && cmd.length > 0)) {
    process.stderr.write(
      verb === 'exec'
        ? 'usage: ucri exec [-i] [-t] [--socket PATH] CONTAINER-ID COMMAND [ARG...]\n'
        : 'usage: ucri attach [-i] [-t] [--socket PATH] CONTAINER-ID\n',
    );
    return 2;
  }
  return withClient(verb, args.socket, RuntimeServiceClient, async (client) => {
    const containerId = await resolveContainer(client, id);
    const req = { containerId, tty: args.tty, stdin: args.stdin, stdout: true, stderr: !args.tty };
    const { url } =
      verb === 'exec'
        ? await unary<ExecResponse>((md, o, cb) => client.exec({ ...req, cmd }, md, o, cb))
        : await unary<AttachResponse>((md, o, cb) => client.attach(req, md, o, cb));
    const terminal = args.tty && process.stdin.isTTY && process.stdout.isTTY;
    const restore = terminal ? rawTerminal() : () => {};
    const io: RemoteCommandIo = {
      stdin: args.stdin ? process.stdin : undefined,
      stdout: process.stdout,
      stderr: args.tty ? undefined : process.stderr,
      tty: args.tty,
      onResize: terminal
        ? (send) => {
            const size = (): void => send(process.stdout.columns, process.stdout.rows);
            size();
            process.on('SIGWINCH', size);
          }
        : undefined,
    };
    try {
      return await runRemoteCommandSpdy(url, io);
    } finally {
      restore();
      if (args.stdin) process.stdin.destroy();
    }
  });
}

export function execCommand(argv: readonly string[]): Promise<number> {
  return stream('exec', argv);
}

export function attachCommand(argv: readonly string[]): Promise<number> {
  return stream('attach', argv);
}
