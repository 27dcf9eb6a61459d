/**
 * remotecommand over SPDY (exec and attach): the client opens one stream per channel, each named by its
 * `streamtype` header (error, stdin, stdout, stderr, resize). The session starts once every stream the
 * request implies has arrived, within the creation timeout. v4 reports the outcome as a Status JSON on the
 * error stream, v1-v3 as plain text (empty for success).
 */
import type { Writable } from 'node:stream';
import { logger } from '../../util/index.js';
import type { StreamRequest } from './requests.js';
import { type Channels, type Outcome, runRemoteCommand, statusJson, statusText } from './remotecommand.js';
import type { SpdyConnection, SpdyStream } from './spdy/connection.js';
import { RST_PROTOCOL_ERROR } from './spdy/frames.js';

const log = logger('cri/streaming');

/** Subprotocols served, most preferred first. */
export const REMOTECOMMAND_PROTOCOLS = [
  'v4.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
];

/** The stream types a request needs, as the client creates them for it. */
export function expectedStreams(
  req: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean },
  protocol: string,
): Set<string> {
  const want = new Set(['error']);
  if (req.stdin) want.add('stdin');
  if (req.stdout) want.add('stdout');
  if (req.stderr && !req.tty) want.add('stderr');
  if (req.tty && (protocol === 'v4.channel.k8s.io' || protocol === 'v3.channel.k8s.io')) want.add('resize');
  return want;
}

export async function serveRemoteCommandSpdy(
  conn: SpdyConnection,
  protocol: string,
  req: Extract<StreamRequest, { kind: 'exec' | 'attach' }>,
  creationTimeoutMs: number,
): Promise<void> {
  const want = expectedStreams(req, protocol);
  const streams = new Map<string, SpdyStream>();
  const gone = new AbortController();
  // The client going away before the outcome is sent ends the session. The close that follows our own
  // outcome is not such a departure: the session is over, and an abort then would only build two
  // DOMExceptions (this one and the session's) while the client's next call arrives.
  let outcomeSent = false;
  conn.once('close', () => {
    if (!outcomeSent) gone.abort();
  });
  const complete = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), creationTimeoutMs);
    const onStream = (s: SpdyStream): void => {
      const type = s.headers.get('streamtype') ?? '';
      if (!want.has(type) || streams.has(type)) {
        conn.reset(s.id, RST_PROTOCOL_ERROR);
        return;
      }
      streams.set(type, s);
      if (streams.size === want.size) {
        clearTimeout(timer);
        conn.off('stream', onStream);
        resolve(true);
      }
    };
    conn.on('stream', onStream);
    conn.once('close', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  if (!complete) {
    log.debug({ got: [...streams.keys()], want: [...want] }, 'streams not created in time');
    conn.destroy();
    return;
  }
  const errorStream = streams.get('error')!;
  errorStream.resume(); // the client sends nothing there
  const finish = async (outcome: Outcome): Promise<void> => {
    outcomeSent = true;
    const text = protocol === 'v4.channel.k8s.io' ? statusJson(outcome) : statusText(outcome);
    const ends: Promise<void>[] = [];
    const end = (w: Writable | undefined, data?: string): void => {
      if (!w || w.writableEnded || w.destroyed) return;
      ends.push(new Promise((resolve) => w.end(data ?? '', () => resolve())));
    };
    end(streams.get('stdout'));
    end(streams.get('stderr'));
    end(errorStream, text);
    await Promise.race([Promise.all(ends), new Promise((resolve) => setTimeout(resolve, 5000))]);
    await conn.close();
  };
  const ch: Channels = {
    stdin: streams.get('stdin'),
    stdout: streams.get('stdout'),
    stderr: streams.get('stderr'),
    resize: streams.get('resize'),
    gone: gone.signal,
    finish,
  };
  await runRemoteCommand(req, ch);
  if (!conn.isClosed) await conn.close();
}
