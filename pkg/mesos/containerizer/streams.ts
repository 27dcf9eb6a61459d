/**
 * The Mesos containerizer's streaming sessions (CRI Exec, Attach, PortForward):
 *   exec         the launcher's exec with live stdio (oci/exec-stream.ts via native/exec-relay): the process
 *                runs as the container's own (user, env, cwd, capabilities), with a terminal when asked;
 *   attach       the container's conmon attach socket (oci/attach.ts via native/attach-relay);
 *   portForward  a TCP connection made inside the pod's pinned network namespace (sys/port-connect.ts via
 *                native/netns-connect), or on the host's loopback for a host-network pod.
 */
import type { Duplex } from 'node:stream';
import type { StreamOptions, StreamSession } from '../../containerizer/index.js';
import { attachSession, Conmon } from '../../oci/index.js';
import { connectInNetns } from '../../sys/index.js';
import { FailedPreconditionError } from '../../util/index.js';
import { type Engine, getContainer, getPod } from './engine.js';
import { execProcess } from './exec-sync.js';
import { requireRunning } from './status.js';

export async function exec(
  e: Engine,
  id: string,
  cmd: string[],
  opts: StreamOptions,
  signal: AbortSignal,
): Promise<StreamSession> {
  const proc = execProcess(e, id, cmd, opts.tty);
  // As other runtimes do: full-screen programs need to know what the terminal is.
  if (opts.tty && !(proc.env ?? []).some((v) => v.startsWith('TERM='))) proc.env = [...(proc.env ?? []), 'TERM=xterm'];
  const s = await e.launcher.execStream(id, proc, opts.stdin, signal);
  // Output nobody asked for is still read, or the process would block on a full pipe.
  if (!opts.stdout) s.stdout.resume();
  if (!opts.stderr) s.stderr?.resume();
  return {
    stdin: s.stdin,
    stdout: opts.stdout ? s.stdout : undefined,
    stderr: opts.stderr && !opts.tty ? s.stderr : undefined,
    resize: (size) => s.resize(size.height, size.width),
    done: s.done.then((exitCode) => ({ exitCode })),
    close: () => s.close(),
  };
}

export async function attach(e: Engine, id: string, opts: StreamOptions, signal: AbortSignal): Promise<StreamSession> {
  const c = getContainer(e, id);
  requireRunning(c);
  if (opts.stdin && !c.rec.spec.stdin) {
    throw new FailedPreconditionError(`container "${id}" was not created with stdin; attach without it`);
  }
  if (opts.tty && !c.rec.spec.tty) throw new FailedPreconditionError(`container "${id}" has no terminal`);
  const session = await attachSession({
    id,
    socket: Conmon.attachSocket(c.bundle),
    stdin: opts.stdin,
    resize: (height, width) => Conmon.resizeTerminal(c.bundle, height, width),
    signal,
  });
  // Over when conmon closed the socket (the container exited, after its last output) or on close().
  const done = session.done.then(() => ({ exitCode: undefined }));
  return {
    stdin: session.stdin,
    stdout: opts.stdout ? session.stdout : undefined,
    stderr: opts.stderr && !c.rec.spec.tty ? session.stderr : undefined,
    resize: (size) => session.resize(size.height, size.width),
    done,
    close: () => session.close(),
  };
}

export async function portForward(e: Engine, podId: string, port: number, signal: AbortSignal): Promise<Duplex> {
  const pod = getPod(e, podId);
  if (pod.rec.phase !== 'READY') throw new FailedPreconditionError(`pod sandbox "${podId}" is not ready`);
  return connectInNetns(pod.rec.state.netns, port, signal);
}
