/**
 * Node has neither mknod(2) nor setxattr(2). Rather than one process per call (coreutils `mknod`, attr's
 * `setfattr`), one small python3 helper per layer takes requests on stdin and answers each on stdout, so a
 * layer with hundreds of whiteouts or capabilities costs one process start. python3's os.mknod and
 * os.setxattr(follow_symlinks=False) are direct system-call wrappers; `-I -S` keeps the environment and site
 * packages out of it. It is started only when a layer needs it.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { FailedPreconditionError, InternalError } from '../../util/index.js';

const SCRIPT = `
import base64, json, os, sys
while True:
    line = sys.stdin.readline()
    if not line:
        break
    r = json.loads(line)
    try:
        if r["op"] == "mknod":
            os.mknod(r["path"], r["mode"], os.makedev(r["major"], r["minor"]))
        elif r["op"] == "setxattr":
            os.setxattr(r["path"], r["name"], base64.b64decode(r["value"]), follow_symlinks=False)
        else:
            raise OSError(22, "unknown op")
        out = {"id": r["id"]}
    except OSError as e:
        out = {"id": r["id"], "errno": e.errno, "error": e.strerror or str(e)}
    sys.stdout.write(json.dumps(out) + "\\n")
    sys.stdout.flush()
`;

interface Reply {
  id: number;
  errno?: number;
  error?: string;
}

/** An error from the helper's system call, with the errno name the caller may test (e.g. ENOTSUP). */
export class SyscallError extends Error {
  constructor(
    message: string,
    readonly errno: number,
  ) {
    super(message);
  }
}

export const ENOTSUP = 95;

export class NodeHelper {
  private child: ChildProcessWithoutNullStreams | undefined;
  private next = 1;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;

  constructor(private readonly signal?: AbortSignal) {}

  /** mknod(path, mode, makedev(major, minor)); `mode` includes the file type bits (S_IFCHR…). */
  mknod(path: string, mode: number, major: number, minor: number): Promise<void> {
    return this.call({ op: 'mknod', path, mode, major, minor });
  }

  /** lsetxattr(path, name, value). */
  lsetxattr(path: string, name: string, value: Buffer): Promise<void> {
    return this.call({ op: 'setxattr', path, name, value: value.toString('base64') });
  }

  /** Ends the helper; pending calls fail. Safe to call more than once. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    child.stdin.end();
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => child.once('close', () => resolve()));
    }
  }

  private start(): ChildProcessWithoutNullStreams {
    const child = spawn('python3', ['-I', '-S', '-c', SCRIPT], {
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: this.signal,
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (stderr.length < 4096) stderr += s;
    });
    child.stdin.on('error', () => {});
    const fail = (err: Error): void => {
      this.failure ??= err;
      for (const w of this.waiting.values()) w.reject(this.failure);
      this.waiting.clear();
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      fail(
        err.code === 'ENOENT'
          ? new FailedPreconditionError('python3 is required to create device nodes and set xattrs', { cause: err })
          : err,
      );
    });
    child.on('close', (code) => {
      if (this.waiting.size > 0) fail(new InternalError(`layer helper exited (${code}): ${stderr.trim()}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const reply = JSON.parse(line) as Reply;
      const w = this.waiting.get(reply.id);
      if (!w) return;
      this.waiting.delete(reply.id);
      if (reply.errno === undefined) w.resolve();
      else w.reject(new SyscallError(reply.error ?? 'failed', reply.errno));
    });
    return child;
  }

  private call(req: Record<string, unknown>): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.child ??= this.start();
    const id = this.next++;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child!.stdin.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }
}
