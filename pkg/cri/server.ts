/**
 * The gRPC edge: serves RuntimeService and ImageService on a unix socket. Connections are accepted by our
 * own net.Server and handed to ucri's own gRPC server (pkg/grpc), which speaks HTTP/2 on the socket itself
 * (pkg/h2 ServerConnection) and accepts any `:authority`, including the socket path that grpc-go clients
 * before the Kubernetes 1.31 era (crictl 1.26, old kubelets) send. The method tables of services.ts supply
 * the method paths and codecs, pkg/cri/instrumented.ts the methods.
 */
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { FailedPreconditionError, logger } from '../util/index.js';
import type { CriDeps } from './deps.js';
import { ImagesService, RuntimeServiceService } from './services.js';
import { GrpcServer, type Method } from '../grpc/index.js';
import {
  imageFsInfo,
  imageStatus,
  listImages,
  pullImage,
  pullWithProgress,
  removeImage,
  streamImages,
  ImageServiceDefinition,
} from './image/index.js';
import { type InstrumentOptions, instrumentService } from './instrumented.js';
import { podAndContainerHandlers } from './runtime/pods-and-containers.js';
import { runtimeConfig } from './runtime/runtime-config.js';
import { status } from './runtime/status.js';
import { updateRuntimeConfig } from './runtime/update-runtime-config.js';
import { version } from './runtime/version.js';
import { imageSchemas, ucriImageSchemas } from './validate/image.js';
import { runtimeSchemas } from './validate/runtime.js';

/** kubelet's own limit for CRI messages. */
const MAX_MESSAGE = 16 * 1024 * 1024;
const log = logger('cri/server');

export class CriServer {
  private readonly grpcServer: GrpcServer;
  private netServer: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private isReady = false;

  /** `observe`: called for every finished RPC (the daemon's Prometheus metrics), see InstrumentOptions. */
  constructor(deps: CriDeps, extra: Pick<InstrumentOptions, 'observe'> = {}) {
    this.grpcServer = new GrpcServer({ maxReceiveMessageLength: MAX_MESSAGE, maxSendMessageLength: MAX_MESSAGE });
    const opts: InstrumentOptions = { ready: () => this.isReady, observe: extra.observe };
    const add = (methods: Map<string, Method>): void => {
      for (const [p, m] of methods) this.grpcServer.add(p, m);
    };
    add(
      instrumentService(
        RuntimeServiceService,
        {
          version: version(deps),
          status: status(deps),
          runtimeConfig: runtimeConfig(deps),
          updateRuntimeConfig: updateRuntimeConfig(deps),
          ...podAndContainerHandlers(deps),
        },
        runtimeSchemas,
        opts,
      ),
    );
    add(
      instrumentService(
        ImageServiceDefinition,
        {
          pullImage: pullImage(deps),
          imageStatus: imageStatus(deps),
          listImages: listImages(deps),
          streamImages: streamImages(deps),
          removeImage: removeImage(deps),
          imageFsInfo: imageFsInfo(deps),
        },
        imageSchemas,
        opts,
      ),
    );
    // ucri's own service for its CLI (pull progress); see api/ucri/v1/ucri.proto.
    add(instrumentService(ImagesService, { pullImage: pullWithProgress(deps) }, ucriImageSchemas, opts));
  }

  /** Marks recovery as finished: every RPC is served from now on. */
  setReady(): void {
    this.isReady = true;
  }

  /**
   * Listens on `socketPath` (mode 0660, parent created). A stale socket file left by a dead daemon is
   * replaced; a live one is refused. The caller holds the instance lock, so no other ucri races us here.
   */
  async listen(socketPath: string): Promise<void> {
    await fs.mkdir(path.dirname(socketPath), { recursive: true, mode: 0o711 });
    await removeStaleSocket(socketPath);
    const server = net.createServer((sock) => {
      this.sockets.add(sock);
      sock.once('close', () => this.sockets.delete(sock));
      this.grpcServer.serve(sock);
    });
    this.netServer = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: socketPath, backlog: 511 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => log.error({ err }, 'listener error'));
    await fs.chmod(socketPath, 0o660);
    log.info({ socket: socketPath }, 'serving CRI');
  }

  /** Stops accepting, lets in-flight calls finish for up to `graceMs`, then closes every connection. */
  async close(graceMs = 2000): Promise<void> {
    const server = this.netServer;
    this.netServer = undefined;
    // Stop accepting now; `close` would also wait for every open connection (an endless event stream or a
    // `ucri pull` in progress), so its completion is awaited only after the connections are closed below.
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    await this.grpcServer.close(graceMs);
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

/** Removes a socket file nobody answers on; refuses when something is still listening there. */
async function removeStaleSocket(socketPath: string): Promise<void> {
  let st: import('node:fs').Stats;
  try {
    st = await fs.lstat(socketPath);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new FailedPreconditionError(`"${socketPath}" exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect(socketPath);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new FailedPreconditionError(`another process is serving on "${socketPath}"`);
  await fs.rm(socketPath, { force: true });
}
