/**
 * serveConnection in front of a real nghttp2 server on a unix socket: a client with a valid authority gets
 * the socket handed over natively, one with a socket path as authority gets the :authority fix, and a
 * client that sends no request before the sniff timeout gets the fix; each is served, over several
 * requests on one connection (so the SETTINGS exchange and the header tables stay in step).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serveConnection } from '../../../pkg/h2/index.js';

describe('serveConnection', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ucri-sniff-'));
  const sock = path.join(dir, 's.sock');
  const h2 = http2.createServer();
  const seen: string[] = [];
  const modes: string[] = [];
  let listener: net.Server;

  before(async () => {
    h2.on('stream', (stream, headers) => {
      seen.push(String(headers[':authority']));
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
    listener = net.createServer((s) =>
      serveConnection(
        s,
        (stream) => {
          modes.push(stream === s ? 'native' : 'fix');
          h2.emit('connection', stream);
        },
        { sniffMs: 100 },
      ),
    );
    await new Promise<void>((resolve) => listener.listen(sock, resolve));
  });
  after(() => {
    listener.close();
    h2.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function get(session: http2.ClientHttp2Session, authority?: string): Promise<void> {
    const req = session.request(authority ? { ':authority': authority } : {});
    req.end();
    const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
    assert.equal(headers[':status'], 200);
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    await once(req, 'end');
    assert.equal(body, 'ok');
  }

  const connect = (): http2.ClientHttp2Session =>
    http2.connect('http://localhost', { createConnection: () => net.connect(sock) });

  it('hands a client with a valid authority the socket itself', async () => {
    modes.length = 0;
    seen.length = 0;
    const session = connect();
    try {
      for (let i = 0; i < 5; i++) await get(session);
      assert.deepEqual(modes, ['native']);
      assert.deepEqual(seen, Array(5).fill('localhost:80'));
    } finally {
      session.destroy();
    }
  });

  it('serves a socket path as authority through the fix', async () => {
    modes.length = 0;
    seen.length = 0;
    const session = connect();
    try {
      for (let i = 0; i < 5; i++) await get(session, '/run/ucri/ucri.sock');
      assert.deepEqual(modes, ['fix']);
      assert.deepEqual(seen, Array(5).fill('localhost'));
    } finally {
      session.destroy();
    }
  });

  it('takes the fix for a client that sends no request before the sniff timeout', async () => {
    modes.length = 0;
    seen.length = 0;
    const session = connect();
    try {
      await once(session, 'remoteSettings');
      while (modes.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      for (let i = 0; i < 3; i++) await get(session);
      assert.deepEqual(modes, ['fix']);
      assert.deepEqual(seen, Array(3).fill('localhost:80'));
    } finally {
      session.destroy();
    }
  });
});
