/**
 * The gRPC wrapper over ucri's gRPC server (pkg/grpc) and a real grpc-js client on a unix socket: a server-streaming RPC that has no
 * handler, or whose handler fails before sending anything, must end the stream with its status at once (it
 * used to leave the client waiting until its deadline). Unary RPCs are checked alongside.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ImagesClient, RuntimeServiceClient } from '../../../pkg/cri/client.js';
import type { PullImageProgress } from '../../../pkg/cri/gen/ucri/v1/ucri.js';
import { ImagesService, RuntimeServiceService } from '../../../pkg/cri/services.js';
import { instrumentService } from '../../../pkg/cri/instrumented.js';
import { GrpcServer, type Method } from '../../../pkg/grpc/index.js';
import { configureLogging, NotFoundError } from '../../../pkg/util/index.js';

configureLogging({ silent: true });

/** A generous deadline: a call that ends with it has hung; the assertions look at the status code only. */
const DEADLINE_MS = 20_000;

/** Reads a server stream to its end; resolves with the messages or rejects with the status error. */
function drain<T>(call: grpc.ClientReadableStream<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const got: T[] = [];
    call.on('data', (m: T) => got.push(m));
    call.on('error', reject);
    call.on('end', () => resolve(got));
  });
}

/** ucri's gRPC server on a unix socket, with the few grpc.Server calls these tests make. */
class TestServer {
  readonly #grpc = new GrpcServer({ maxReceiveMessageLength: 1 << 20, maxSendMessageLength: 1 << 20 });
  #net: net.Server | undefined;

  addService(_definition: unknown, methods: Map<string, Method>): void {
    for (const [p, m] of methods) this.#grpc.add(p, m);
  }

  bindAsync(address: string, _credentials: unknown, cb: (err: Error | null) => void): void {
    const server = net.createServer((sock) => this.#grpc.serve(sock));
    this.#net = server;
    server.once('error', cb);
    server.listen(address.replace(/^unix:\/\//, ''), () => cb(null));
  }

  forceShutdown(): void {
    void this.#grpc.close(0);
    this.#net?.close();
  }
}

const codeOf = (e: unknown): number | undefined => (e as { code?: number }).code;

describe('instrumented gRPC services', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ucri-instr-'));
  const socket = `unix://${path.join(dir, 'test.sock')}`;
  const server = new TestServer();
  const other = new TestServer();
  let images: ImagesClient;
  let failing: ImagesClient;
  let runtime: RuntimeServiceClient;

  before(async () => {
    const opts = { ready: () => true };
    // Test-only registrations: ucri's Images service without its handler, and (on a second server) with one
    // that fails at once; RuntimeService with no handlers at all.
    server.addService(ImagesService, instrumentService(ImagesService, {}, {}, opts));
    server.addService(RuntimeServiceService, instrumentService(RuntimeServiceService, {}, {}, opts));
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(socket, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
    other.addService(
      ImagesService,
      instrumentService(
        ImagesService,
        {
          pullImage: async (req) => {
            throw new NotFoundError(`image "${req.image}" not found`);
          },
        },
        {},
        opts,
      ),
    );
    const otherSocket = `unix://${path.join(dir, 'other.sock')}`;
    await new Promise<void>((resolve, reject) =>
      other.bindAsync(otherSocket, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
    images = new ImagesClient(socket, grpc.credentials.createInsecure());
    failing = new ImagesClient(otherSocket, grpc.credentials.createInsecure());
    runtime = new RuntimeServiceClient(socket, grpc.credentials.createInsecure());
  });
  after(() => {
    images?.close();
    failing?.close();
    runtime?.close();
    server.forceShutdown();
    other.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers UNIMPLEMENTED at once to a server-streaming RPC without a handler', async () => {
    const call = images.pullImage(
      { image: 'busybox', username: '', password: '' },
      { deadline: Date.now() + DEADLINE_MS },
    );
    await assert.rejects(drain<PullImageProgress>(call), (e: unknown) => {
      assert.equal(codeOf(e), grpc.status.UNIMPLEMENTED, String(e));
      assert.match((e as Error).message, /PullImage is not implemented/);
      return true;
    });
  });

  it("ends a stream whose handler fails with the handler's status", async () => {
    const call = failing.pullImage(
      { image: 'nothing', username: '', password: '' },
      { deadline: Date.now() + DEADLINE_MS },
    );
    await assert.rejects(drain<PullImageProgress>(call), (e: unknown) => {
      assert.equal(codeOf(e), grpc.status.NOT_FOUND, String(e));
      assert.match((e as Error).message, /image "nothing" not found/);
      return true;
    });
  });

  it('answers UNIMPLEMENTED to every RuntimeService RPC without a handler, unary or streaming', async () => {
    const methods = Object.entries(RuntimeServiceService);
    assert.ok(methods.some(([, d]) => d.responseStream));
    for (const [name, def] of methods) {
      const fn = (runtime as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!.bind(runtime);
      const req = def.requestDeserialize(Buffer.alloc(0));
      const opts = { deadline: Date.now() + DEADLINE_MS };
      const outcome = def.responseStream
        ? drain(fn(req, opts) as grpc.ClientReadableStream<unknown>)
        : new Promise((resolve, reject) =>
            fn(req, new grpc.Metadata(), opts, (err: unknown, res: unknown) => (err ? reject(err) : resolve(res))),
          );
      await assert.rejects(outcome, (e: unknown) => {
        assert.equal(codeOf(e), grpc.status.UNIMPLEMENTED, `${name}: ${String(e)}`);
        return true;
      });
    }
  });

  describe('the call signal', () => {
    const sigServer = new TestServer();
    let client: RuntimeServiceClient;
    const seen = new Map<string, AbortSignal>();
    let started: (() => void) | undefined;
    let takeLate: (() => void) | undefined;

    before(async () => {
      sigServer.addService(
        RuntimeServiceService,
        instrumentService(
          RuntimeServiceService,
          {
            // `version` names what the handler does: return at once, or wait for its signal to abort.
            version: async (req, ctx) => {
              if (req.version.startsWith('late')) {
                // Takes its signal only after the client has cancelled (nothing was registered before).
                started?.();
                await new Promise<void>((resolve) => {
                  takeLate = resolve;
                });
              }
              const signal = ctx.signal;
              seen.set(req.version, signal);
              if (req.version.startsWith('wait')) {
                started?.();
                await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
                throw signal.reason;
              }
              return { version: req.version, runtimeName: 't', runtimeVersion: '1', runtimeApiVersion: 'v1' };
            },
          },
          {},
          { ready: () => true },
        ),
      );
      const sock = `unix://${path.join(dir, 'signal.sock')}`;
      await new Promise<void>((resolve, reject) =>
        sigServer.bindAsync(sock, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
      );
      client = new RuntimeServiceClient(sock, grpc.credentials.createInsecure());
    });
    after(() => {
      client?.close();
      sigServer.forceShutdown();
    });

    const version = (v: string, deadline: number): Promise<unknown> =>
      new Promise((resolve, reject) =>
        client.version({ version: v }, new grpc.Metadata(), { deadline }, (err, res) =>
          err ? reject(err) : resolve(res),
        ),
      );

    it('aborts with DeadlineExceeded when the deadline passes', async () => {
      await assert.rejects(version('wait-deadline', Date.now() + 300), (e: unknown) => {
        assert.equal(codeOf(e), grpc.status.DEADLINE_EXCEEDED, String(e));
        return true;
      });
      const s = seen.get('wait-deadline');
      assert.ok(s, 'the handler ran');
      await new Promise<void>((resolve) => (s.aborted ? resolve() : s.addEventListener('abort', () => resolve())));
      assert.equal((s.reason as { kind?: string }).kind, 'DeadlineExceeded');
    });

    it('aborts with Cancelled when the client cancels', async () => {
      const running = new Promise<void>((resolve) => {
        started = resolve;
      });
      const call = client.version(
        { version: 'wait-cancel' },
        new grpc.Metadata(),
        { deadline: Date.now() + DEADLINE_MS },
        () => {},
      );
      await running;
      call.cancel();
      const s = seen.get('wait-cancel');
      assert.ok(s, 'the handler ran');
      await new Promise<void>((resolve) => (s.aborted ? resolve() : s.addEventListener('abort', () => resolve())));
      assert.equal((s.reason as { kind?: string }).kind, 'Cancelled');
    });

    it('is aborted with Cancelled when taken after the client cancelled', async () => {
      const running = new Promise<void>((resolve) => {
        started = resolve;
      });
      const call = client.version(
        { version: 'late-cancel' },
        new grpc.Metadata(),
        { deadline: Date.now() + DEADLINE_MS },
        () => {},
      );
      await running;
      call.cancel();
      await new Promise((resolve) => setTimeout(resolve, 100));
      takeLate?.();
      for (let i = 0; i < 100 && !seen.has('late-cancel'); i++) await new Promise((r) => setTimeout(r, 10));
      const s = seen.get('late-cancel');
      assert.ok(s, 'the handler took its signal');
      assert.equal(s.aborted, true, 'aborted at once');
      assert.equal((s.reason as { kind?: string }).kind, 'Cancelled');
    });

    it('is never aborted once the call has answered, also after its stream closed', async () => {
      await version('ok', Date.now() + DEADLINE_MS);
      // Later calls on the same connection: by then the first call's stream has closed (a closed stream
      // must not count as a cancellation).
      for (let i = 0; i < 3; i++) await version(`ok-${i}`, Date.now() + DEADLINE_MS);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(seen.get('ok')?.aborted, false);
    });
  });
});
