/**
 * Test harness for pkg/cri runtime verbs without gRPC: real stores in a temp work dir, the fake
 * containerizer and image store, the handlers called directly, and requests built with ts-proto defaults
 * and validated by the same zod schemas the server uses.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ComposingContainerizer } from '../../../pkg/containerizer/index.js';
import type { CriDeps } from '../../../pkg/cri/deps.js';
import { ContainerEvents } from '../../../pkg/cri/events.js';
import {
  type ContainerConfig,
  ContainerEventType,
  CreateContainerRequest,
  type PodSandboxConfig,
  RunPodSandboxRequest,
} from '../../../pkg/cri/gen/cri/v1/api.js';
import type { CallContext } from '../../../pkg/cri/instrumented.js';
import { podAndContainerHandlers } from '../../../pkg/cri/runtime/pods-and-containers.js';
import { ContainerStore } from '../../../pkg/cri/store/container.js';
import { RuntimeConfigStore } from '../../../pkg/cri/store/runtime-config.js';
import { SandboxStore } from '../../../pkg/cri/store/sandbox.js';
import { runtimeSchemas } from '../../../pkg/cri/validate/runtime.js';
import { InvalidArgumentError, KeyedLock, logger } from '../../../pkg/util/index.js';
import { BUSYBOX, FakeContainerizer, FakeImages } from './fake-containerizer.js';

export interface Harness {
  dir: string;
  fake: FakeContainerizer;
  deps: CriDeps;
  h: ReturnType<typeof podAndContainerHandlers>;
  /** Calls a handler the way the server does: schema first (InvalidArgument), then the handler. */
  call<K extends keyof ReturnType<typeof podAndContainerHandlers>>(
    verb: K,
    req: Parameters<ReturnType<typeof podAndContainerHandlers>[K]>[0],
    signal?: AbortSignal,
  ): Promise<unknown>;
  /** New deps over the same work dir (a restart), with a fresh fake unless one is given. */
  restart(fake?: FakeContainerizer): Harness;
  cleanup(): Promise<void>;
}

/** Ends a fake container's process and waits until the runtime has recorded the exit (its STOPPED event). */
export async function exitAndWait(t: Harness, id: string, code: number): Promise<void> {
  const sub = t.deps.events.subscribe();
  try {
    t.fake.exit(id, code);
    const signal = new AbortController().signal;
    for (;;) {
      const e = await sub.next(signal);
      if (e.containerId === id && e.containerEventType === ContainerEventType.CONTAINER_STOPPED_EVENT) return;
    }
  } finally {
    sub.close();
  }
}

export function ctx(signal: AbortSignal = new AbortController().signal): CallContext {
  return { signal, log: logger('test'), rpc: 'test' };
}

function build(dir: string, fake: FakeContainerizer): Harness {
  const deps: CriDeps = {
    containerizer: new ComposingContainerizer([fake]),
    info: { version: '0.0.0', cgroupDriver: 'cgroupfs', config: {} },
    runtimeConfig: new RuntimeConfigStore(path.join(dir, 'runtime-config.json')),
    images: new FakeImages([BUSYBOX]),
    sandboxes: new SandboxStore(dir),
    containers: new ContainerStore(dir),
    events: new ContainerEvents(8),
    locks: new KeyedLock(),
  };
  const h = podAndContainerHandlers(deps);
  const harness: Harness = {
    dir,
    fake,
    deps,
    h,
    async call(verb, req, signal) {
      const schema = (
        runtimeSchemas as Record<string, { safeParse(v: unknown): { success: boolean; error?: unknown } }>
      )[verb];
      if (schema) {
        const r = schema.safeParse(req);
        if (!r.success) throw new InvalidArgumentError(`invalid ${verb}: ${JSON.stringify(r.error)}`);
      }
      const fn = h[verb] as (r: unknown, c: CallContext, send?: unknown) => Promise<unknown>;
      return fn(req, ctx(signal));
    },
    restart(next = new FakeContainerizer()) {
      return build(dir, next);
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

export async function harness(): Promise<Harness> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ucri-cri-unit-'));
  return build(dir, new FakeContainerizer());
}

/** A harness whose CRI stores have loaded their (empty) record dirs, as the daemon's start-up does. */
export async function loadedHarness(): Promise<Harness> {
  const t = await harness();
  await t.deps.sandboxes.load();
  await t.deps.containers.load();
  return t;
}

export function podConfig(name = 'web', over: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  return RunPodSandboxRequest.fromPartial({
    config: {
      metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 },
      hostname: name,
      logDirectory: `/var/log/pods/default_${name}`,
      labels: { app: name, tier: 'front' },
      annotations: { note: 'x' },
      ...over,
    },
  }).config!;
}

export function runPodReq(name = 'web', over: Partial<PodSandboxConfig> = {}): RunPodSandboxRequest {
  return RunPodSandboxRequest.fromPartial({ config: podConfig(name, over), runtimeHandler: '' });
}

export function createReq(
  podSandboxId: string,
  name = 'c1',
  over: Partial<ContainerConfig> = {},
): CreateContainerRequest {
  return CreateContainerRequest.fromPartial({
    podSandboxId,
    config: {
      metadata: { name, attempt: 0 },
      image: { image: 'docker.io/library/busybox:latest' },
      command: ['sh', '-c', 'sleep 1000'],
      logPath: `${name}/0.log`,
      labels: { role: name },
      mounts: [{ containerPath: '/data', hostPath: '/tmp', readonly: true }],
      ...over,
    },
    sandboxConfig: podConfig(),
  });
}
