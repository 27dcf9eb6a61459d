/**
 * The streaming URLs tests ask for: one helper for Exec (and Attach), shared by the SPDY, WebSocket and CLI
 * tests, so every test asks for them the same way.
 */
import type { CriClient } from './cri-client.js';

export interface StdioOver {
  tty?: boolean;
  stdin?: boolean;
}

/** The URL of an exec of `cmd` in `containerId`: stdout always, stderr unless `tty`. */
export async function execUrl(c: CriClient, containerId: string, cmd: string[], over: StdioOver = {}): Promise<string> {
  const tty = over.tty ?? false;
  const { url } = await c.runtime.exec({
    containerId,
    cmd,
    tty,
    stdin: over.stdin ?? false,
    stdout: true,
    stderr: !tty,
  });
  return url;
}

/** The URL of an attach to `containerId`: stdout always, stderr unless `tty`. */
export async function attachUrl(c: CriClient, containerId: string, over: StdioOver = {}): Promise<string> {
  const tty = over.tty ?? false;
  const { url } = await c.runtime.attach({ containerId, tty, stdin: over.stdin ?? false, stdout: true, stderr: !tty });
  return url;
}
