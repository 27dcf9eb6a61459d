/**
 * An exec session over SPDY (pkg/cri/streaming/spdy-remotecommand.ts) against a fake containerizer, over a
 * real unix socket: a client leaving before the outcome aborts the session's signal; the connection's close
 * that follows our own outcome does not (the session is over; an abort then only costs two DOMExceptions
 * while the client's next call arrives, docs/performance.md "Status and list calls after a verb, phase 8").
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Containerizer, StreamSession } from '../../../pkg/containerizer/index.js';
import { SpdyConnection, type StreamRequest } from '../../../pkg/cri/streaming/index.js';
import { serveRemoteCommandSpdy } from '../../../pkg/cri/streaming/spdy-remotecommand.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ucri-spdy-end-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

type ExecRequest = Extract<StreamRequest, { kind: 'exec' }>;

interface Seen {
  signal?: AbortSignal;
  abortedAtClose?: boolean;
  closed: number;
}

/** A containerizer whose exec runs until `exit` is called (or its signal aborts it). */
function fakeExec(seen: Seen): { containerizer: Containerizer; exit(code: number): void } {
  let exit: (code: number) => void = () => {};
  const containerizer = {
    async exec(_id: string, _cmd: string[], _opts: unknown, signal: AbortSignal): Promise<StreamSession> {
      seen.signal = signal;
      const stdout = new PassThrough();
      const done = new Promise<{ exitCode: number | undefined }>((resolve) => {
        exit = (code) => {
          stdout.end('hi\n');
          resolve({ exitCode: code });
        };
        signal.addEventListener('abort', () => {
          stdout.end();
          resolve({ exitCode: 137 });
        });
      });
      return {
        stdin: undefined,
        stdout,
        stderr: undefined,
        resize() {},
        done,
        async close() {
          seen.closed++;
          seen.abortedAtClose ??= signal.aborted;
        },
      };
    },
  } as unknown as Containerizer;
  return { containerizer, exit: (code) => exit(code) };
}

function readAll(r: Readable): Promise<string> {
  return new Promise((resolve) => {
    let s = '';
    r.on('data', (c: Buffer) => {
      s += c.toString();
    });
    r.on('end', () => resolve(s));
    r.on('close', () => resolve(s));
  });
}

/** Serves one SPDY connection on a fresh unix socket with `req`; returns the client side and the serve promise. */
async function session(req: ExecRequest): Promise<{ client: SpdyConnection; served: Promise<void> }> {
  const sock = path.join(dir, `s${Math.random().toString(16).slice(2)}.sock`);
  let served!: Promise<void>;
  const accepted = new Promise<void>((resolve) => {
    const server = net.createServer((s) => {
      server.close();
      served = serveRemoteCommandSpdy(new SpdyConnection(s, true), 'v4.channel.k8s.io', req, 5000);
      resolve();
    });
    server.listen(sock);
  });
  const socket = net.connect(sock);
  await new Promise((resolve) => socket.once('connect', resolve));
  await accepted;
  return { client: new SpdyConnection(socket, false), served };
}

/** An exec of `cmd` on the fake containerizer with stdout only, and what it records. */
function stdoutExec(cmd: string[]): { seen: Seen; fake: ReturnType<typeof fakeExec>; req: ExecRequest } {
  const seen: Seen = { closed: 0 };
  const fake = fakeExec(seen);
  const req: ExecRequest = {
    kind: 'exec',
    containerizer: fake.containerizer,
    containerId: 'c1',
    cmd,
    tty: false,
    stdin: false,
    stdout: true,
    stderr: false,
  };
  return { seen, fake, req };
}

describe('SPDY exec session end', () => {
  it('sends the outcome and closes without aborting the finished session', async () => {
    const { seen, fake, req } = stdoutExec(['echo', 'hi']);
    const { client, served } = await session(req);
    const error = await client.openStream(new Map([['streamtype', 'error']]));
    const stdout = await client.openStream(new Map([['streamtype', 'stdout']]));
    const [status, out] = [readAll(error), readAll(stdout)];
    while (!seen.signal) await new Promise((r) => setImmediate(r));
    fake.exit(0);
    assert.equal(await out, 'hi\n');
    assert.match(await status, /"status":"Success"/);
    await served;
    assert.equal(seen.closed, 1);
    assert.equal(seen.abortedAtClose, false);
    assert.equal(seen.signal!.aborted, false, 'the close after our outcome does not abort the session');
    client.destroy();
  });

  it('aborts the session when the client leaves before the outcome', async () => {
    const { seen, req } = stdoutExec(['sleep', '100']);
    const { client, served } = await session(req);
    await client.openStream(new Map([['streamtype', 'error']]));
    await client.openStream(new Map([['streamtype', 'stdout']]));
    while (!seen.signal) await new Promise((r) => setImmediate(r));
    client.destroy();
    await served;
    assert.equal(seen.signal!.aborted, true);
    assert.equal(seen.closed, 1);
  });
});
