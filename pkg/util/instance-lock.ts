/**
 * Instance locks that cannot go stale: a listening socket in the Linux abstract namespace. The kernel frees
 * the name the moment the holder dies, so a daemon killed with SIGKILL never leaves a lock behind, and two
 * daemons can never share one root directory or socket.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { FailedPreconditionError } from './errors.js';

export interface InstanceLock {
  release(): Promise<void>;
}

/** Takes the lock named by `what` (e.g. a directory path); fails when another live process holds it. */
export async function acquireInstanceLock(kind: string, what: string): Promise<InstanceLock> {
  const name = `\0ucri/${kind}/${createHash('sha256').update(what).digest('hex').slice(0, 32)}`;
  const server = net.createServer((c) => c.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new FailedPreconditionError(`${kind} "${what}" is in use by another ucri`));
      else reject(err);
    });
    server.listen({ path: name }, () => resolve());
  });
  server.unref();
  return { release: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
