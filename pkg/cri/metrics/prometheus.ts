/**
 * The daemon's own Prometheus metrics (`--metrics_address`, off by default), with prom-client: per-RPC
 * latency histograms and error counts (fed by instrumented.ts), pods and containers by state (read from the
 * stores at scrape time, so nothing is counted twice), image pull durations and bytes, and CNI plugin call
 * durations (both reported by the layers that do the work through pkg/util measure()).
 */
import http from 'node:http';
import client from 'prom-client';
import { logger, onMeasurement } from '../../util/index.js';
import type { ContainerStore } from '../store/container.js';
import type { SandboxStore } from '../store/sandbox.js';

const log = logger('cri/metrics');

/** gRPC status code names, for the `code` label (0 = OK). */
const CODE_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

export class DaemonMetrics {
  readonly registry = new client.Registry();
  private readonly rpcSeconds: client.Histogram<'rpc' | 'code'>;
  private readonly rpcErrors: client.Counter<'rpc' | 'code'>;
  private server: http.Server | undefined;
  private readonly unsubscribe: () => void;

  constructor(stores: { sandboxes: SandboxStore; containers: ContainerStore }) {
    const registers = [this.registry];
    this.rpcSeconds = new client.Histogram({
      name: 'ucri_cri_request_duration_seconds',
      help: 'Latency of CRI requests by RPC and gRPC status code (streams: until the stream ends).',
      labelNames: ['rpc', 'code'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 120],
      registers,
    });
    this.rpcErrors = new client.Counter({
      name: 'ucri_cri_request_errors_total',
      help: 'CRI requests that failed, by RPC and gRPC status code.',
      labelNames: ['rpc', 'code'],
      registers,
    });
    new client.Gauge({
      name: 'ucri_pods',
      help: 'Pod sandboxes by state.',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        for (const s of ['creating', 'ready', 'stopped']) this.set({ state: s }, 0);
        for (const r of stores.sandboxes.list()) this.inc({ state: r.status.state });
      },
    });
    new client.Gauge({
      name: 'ucri_containers',
      help: 'Containers by state.',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        for (const s of ['creating', 'created', 'running', 'exited']) this.set({ state: s }, 0);
        for (const r of stores.containers.list()) this.inc({ state: r.status.state });
      },
    });
    const pullSeconds = new client.Histogram({
      name: 'ucri_image_pull_duration_seconds',
      help: 'Duration of PullImage, by outcome.',
      labelNames: ['outcome'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900],
      registers,
    });
    const pullBytes = new client.Counter({
      name: 'ucri_image_pull_bytes_total',
      help: 'Size of the images PullImage delivered.',
      registers,
    });
    const cniSeconds = new client.Histogram({
      name: 'ucri_cni_plugin_duration_seconds',
      help: 'Duration of CNI plugin invocations, by command, plugin and outcome.',
      labelNames: ['command', 'plugin', 'outcome'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60],
      registers,
    });
    client.collectDefaultMetrics({ register: this.registry, prefix: 'ucri_' });
    this.unsubscribe = onMeasurement((m) => {
      const outcome = m.ok ? 'ok' : 'error';
      if (m.kind === 'pull') {
        pullSeconds.observe({ outcome }, m.seconds);
        if (m.ok) pullBytes.inc(m.bytes);
      } else {
        cniSeconds.observe({ command: m.command, plugin: m.plugin, outcome }, m.seconds);
      }
    });
  }

  /** Records one finished RPC (instrumented.ts calls it for every call, streams included). */
  observeRpc(rpc: string, code: number, seconds: number): void {
    const name = CODE_NAMES[code] ?? String(code);
    this.rpcSeconds.observe({ rpc, code: name }, seconds);
    if (code !== 0) this.rpcErrors.inc({ rpc, code: name });
  }

  /** Serves `/metrics` on `address` (`host:port`, `[v6]:port` or `:port`); resolves with the bound port. */
  async listen(address: string): Promise<number> {
    const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address);
    if (!m) throw new Error(`metrics address "${address}" is not host:port`);
    const host = m[1] ?? (m[2] || '127.0.0.1');
    const server = http.createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404).end('not found\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (err: unknown) => {
          log.warn({ err }, 'metrics scrape failed');
          res.writeHead(500).end('scrape failed\n');
        },
      );
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(m[3]), host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as { port: number }).port;
    log.info({ address: `${host}:${port}` }, 'serving Prometheus metrics');
    return port;
  }

  async close(): Promise<void> {
    this.unsubscribe();
    const s = this.server;
    this.server = undefined;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  }
}
