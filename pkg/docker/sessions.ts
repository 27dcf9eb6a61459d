/**
 * Exec and attach through dockerd's hijacked connections: ExecSync (collect output, kill the process at the
 * deadline), and the live sessions of the streaming server (stdin, stdout/stderr demultiplexed unless TTY,
 * resize, exit code).
 */
import { type Duplex, PassThrough, type Readable } from 'node:stream';
import type { ExecResult, StreamOptions, StreamSession, TerminalSize } from '../containerizer/index.js';
import { killProcessTree } from '../sys/index.js';
import { DeadlineExceededError, errorMessage, logger } from '../util/index.js';
import type { EngineApi } from './api.js';
import { demux } from './streams.js';

const log = logger('docker/sessions');

function killPid(pid: number): void {
  if (pid <= 0) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function collect(src: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Runs `cmd` in container `dockerId`, collecting its output; DeadlineExceeded after `timeoutSeconds` (0: none). */
export async function execSync(
  api: EngineApi,
  dockerId: string,
  cmd: string[],
  timeoutSeconds: number,
  signal: AbortSignal,
): Promise<ExecResult> {
  const { Id: execId } = await api.execCreate(
    dockerId,
    { Cmd: cmd, AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: false },
    signal,
  );
  const sock = await api.execStart(execId, false, signal);
  const { stdout, stderr } = demux(sock);
  sock.resume();
  let timedOut = false;
  const kill = async (): Promise<void> => {
    // dockerd cannot signal an exec; its process tree is ours to kill on the host (in our pid namespace).
    const info = await api.execInspect(execId).catch(() => undefined);
    if (info?.Running) {
      await killProcessTree(info.Pid).catch(() => killPid(info.Pid));
      // Gone only once its parent (the shim) reaped it, which dockerd reports as the exec no longer
      // running: until then the container still sees it (a zombie keeps its name for `pgrep`).
      for (let i = 0; i < 100; i++) {
        const now = await api.execInspect(execId).catch(() => undefined);
        if (!now?.Running) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    sock.destroy();
  };
  const timer =
    timeoutSeconds > 0
      ? setTimeout(() => {
          timedOut = true;
          void kill();
        }, timeoutSeconds * 1000)
      : undefined;
  const onAbort = (): void => void kill();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const [out, err] = await Promise.all([collect(stdout), collect(stderr)]);
    if (timedOut) throw new DeadlineExceededError(`command timed out after ${timeoutSeconds}s`);
    const info = await api.execInspect(execId, signal);
    return { exitCode: info.ExitCode ?? 0, stdout: out, stderr: err };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

/** Builds a session over a hijacked socket. */
function session(
  sock: Duplex,
  opts: StreamOptions,
  resize: (s: TerminalSize) => Promise<void>,
  exitCode: () => Promise<number | undefined>,
  onClose: () => Promise<void>,
): StreamSession {
  let stdout: Readable | undefined;
  let stderr: Readable | undefined;
  if (opts.tty) {
    const out = new PassThrough();
    sock.pipe(out);
    stdout = opts.stdout ? out : undefined;
    if (!opts.stdout) out.resume();
  } else {
    const d = demux(sock);
    stdout = opts.stdout ? d.stdout : undefined;
    stderr = opts.stderr ? d.stderr : undefined;
    if (!opts.stdout) d.stdout.resume();
    if (!opts.stderr) d.stderr.resume();
  }
  sock.resume();
  let stdin: PassThrough | undefined;
  if (opts.stdin) {
    stdin = new PassThrough();
    stdin.on('data', (c: Buffer) => sock.write(c));
    // Half-close: the process sees EOF on stdin, output keeps flowing.
    stdin.on('end', () => sock.end());
  }
  let closed = false;
  const ended = new Promise<void>((resolve) => {
    sock.once('close', () => resolve());
    sock.once('end', () => resolve());
    sock.once('error', () => resolve());
  });
  const done = ended.then(async () => ({ exitCode: closed ? undefined : await exitCode().catch(() => undefined) }));
  return {
    stdin,
    stdout,
    stderr,
    resize(size) {
      if (!opts.tty) return;
      resize(size).catch((err: unknown) => log.debug({ err: errorMessage(err) }, 'resize failed'));
    },
    done,
    async close() {
      if (closed) return;
      closed = true;
      sock.destroy();
      await onClose();
    },
  };
}

/** A live exec session (CRI Exec). */
export async function execSession(
  api: EngineApi,
  dockerId: string,
  cmd: string[],
  opts: StreamOptions,
  signal: AbortSignal,
): Promise<StreamSession> {
  const { Id: execId } = await api.execCreate(
    dockerId,
    {
      Cmd: cmd,
      AttachStdin: opts.stdin,
      AttachStdout: opts.stdout,
      AttachStderr: opts.stderr && !opts.tty,
      Tty: opts.tty,
    },
    signal,
  );
  const sock = await api.execStart(execId, opts.tty, signal);
  const kill = async (): Promise<void> => {
    const info = await api.execInspect(execId).catch(() => undefined);
    if (info?.Running) killPid(info.Pid);
  };
  const s = session(
    sock,
    opts,
    (size) => api.execResize(execId, size.height, size.width),
    async () => {
      // The hijacked stream ends a moment before dockerd records the exit code.
      for (let i = 0; i < 50; i++) {
        const info = await api.execInspect(execId);
        if (!info.Running && info.ExitCode !== null) return info.ExitCode;
        await new Promise((r) => setTimeout(r, 20));
      }
      return undefined;
    },
    kill,
  );
  signal.addEventListener('abort', () => void s.close(), { once: true });
  return s;
}

/** A live attach session (CRI Attach) to the container's own stdio. */
export async function attachSession(
  api: EngineApi,
  dockerId: string,
  opts: StreamOptions,
  signal: AbortSignal,
): Promise<StreamSession> {
  const sock = await api.attach(dockerId, { stdin: opts.stdin, stdout: opts.stdout, stderr: opts.stderr }, signal);
  const s = session(
    sock,
    opts,
    (size) => api.resizeContainer(dockerId, size.height, size.width),
    async () => {
      const c = await api.inspectContainer(dockerId);
      return c.State.Running ? undefined : c.State.ExitCode;
    },
    async () => undefined,
  );
  signal.addEventListener('abort', () => void s.close(), { once: true });
  return s;
}
