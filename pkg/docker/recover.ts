/**
 * Recovery of the Docker containerizer after a ucri restart, in two phases:
 *
 * 1. Local (needs no dockerd): pkg/cni's checkpoints give known pods their attachment back and DEL the
 *    others; namespace pins of unknown pods are removed; every known pod is registered under its infra's
 *    deterministic name, with its pin and addresses.
 * 2. From dockerd: every container labelled with this ucri instance is listed; what carries our label but
 *    has no record (a create that a crash interrupted, a pod removed while ucri was down) is removed; known
 *    pods whose infra no longer runs are marked lost; known containers get their state (running ones their
 *    exit watch and log follower, resumed after the last line written).
 *
 * When dockerd does not answer at start-up, phase 2 waits for it (the containerizer retries) and the known
 * containers are reported `unknown` until then; pkg/cri completes their recovery with what phase 2 found.
 */
import type { CniRecord } from '../cni/index.js';
import type { ContainerSpec, PodSpec, RecoveredContainer } from '../containerizer/index.js';
import { isPinned, listPinnedIds, pinPaths, removePinnedNamespaces } from '../sys/index.js';
import { errorMessage, logger } from '../util/index.js';
import type { ContainerSummary } from './api.js';
import type { DockerContainer, RecoverTarget } from './state.js';
import { containerNameOf, infraName, LABELS, parseTimeNs, terminationOf } from './translate.js';

const log = logger('docker/recover');

export interface KnownState {
  pods: PodSpec[];
  containers: ContainerSpec[];
}

/** Phase 1: network attachments and pins, without dockerd. Registers every known pod. */
export async function recoverLocal(dz: RecoverTarget, known: KnownState): Promise<void> {
  const d = dz.podDeps;
  const podIds = new Set(known.pods.map((p) => p.id));
  const restored = await d.cni.recover(
    new Map<string, CniRecord | undefined>(known.pods.map((p) => [p.id, undefined])),
  );
  for (const id of await listPinnedIds(d.pinRoot)) {
    if (!podIds.has(id)) await removePinnedNamespaces(d.pinRoot, id).catch(() => undefined);
  }
  for (const spec of known.pods) {
    const pin = pinPaths(d.pinRoot, spec.id, ['net']).net!;
    const netns = spec.namespaces.network === 'node' ? '' : (await isPinned(pin)) ? pin : '';
    // dockerd takes a container's name where it takes its id: phase 2 replaces it with the id.
    dz.pods.set(spec.id, { spec, infraId: infraName(spec.id), netns, ips: restored.get(spec.id)?.ips ?? [] });
  }
}

/** Registers known containers as `unknown` until phase 2 runs (dockerd down at start-up). */
export function registerUnknown(dz: RecoverTarget, known: KnownState): RecoveredContainer[] {
  for (const spec of known.containers) {
    dz.containers.set(spec.id, {
      spec,
      dockerId: containerNameOf(spec.id),
      cgroup: '',
      follower: undefined,
      exit: undefined,
      runtime: {
        state: 'unknown',
        mesosState: 'UNKNOWN',
        pid: 0,
        startedAt: 0n,
        termination: undefined,
        user: undefined,
        info: { containerizer: 'docker', dockerd: 'not answering' },
      },
    });
  }
  return known.containers.map((s) => ({ id: s.id, state: 'unknown' }));
}

/** Phase 2: what dockerd has. Throws when dockerd does not answer the listing. */
export async function recoverFromDockerd(dz: RecoverTarget, known: KnownState): Promise<RecoveredContainer[]> {
  const d = dz.podDeps;
  const all: ContainerSummary[] = await dz.api.listContainers([`${LABELS.instance}=${d.instance}`]);
  const podIds = new Set(known.pods.map((p) => p.id));
  const containerIds = new Set(known.containers.map((c) => c.id));

  // Orphans: ours by label, unknown to the records.
  for (const s of all) {
    const labels = s.Labels ?? {};
    const pod = labels[LABELS.pod] ?? '';
    const ctr = labels[LABELS.container];
    const orphan = ctr ? !containerIds.has(ctr) : !podIds.has(pod);
    if (!orphan) continue;
    log.warn({ docker: s.Id, pod, container: ctr ?? null }, 'removing a docker container no record knows');
    await dz.api.removeContainer(s.Id).catch((e: unknown) => log.warn({ err: errorMessage(e) }, 'remove failed'));
  }

  const byLabel = (key: string, value: string): ContainerSummary | undefined =>
    all.find((s) => s.Labels?.[key] === value && (key !== LABELS.pod || !s.Labels?.[LABELS.container]));

  for (const spec of known.pods) {
    const pod = dz.pods.get(spec.id);
    if (!pod) continue;
    const infra = byLabel(LABELS.pod, spec.id);
    const info = infra ? await dz.api.inspectContainer(infra.Id).catch(() => undefined) : undefined;
    if (infra) pod.infraId = infra.Id;
    // A pod whose infra is gone or stopped is not ready any more; pkg/cri reports it NOTREADY.
    if (!info?.State.Running) pod.lost = infra ? 'the infra container is not running' : 'the infra container is gone';
  }

  const out: RecoveredContainer[] = [];
  for (const spec of known.containers) {
    const s = byLabel(LABELS.container, spec.id);
    const info = s ? await dz.api.inspectContainer(s.Id).catch(() => undefined) : undefined;
    if (!s || !info) {
      dz.containers.delete(spec.id);
      out.push({ id: spec.id, state: 'lost' });
      continue;
    }
    const c: DockerContainer = {
      spec,
      dockerId: s.Id,
      cgroup: '',
      follower: undefined,
      exit: undefined,
      runtime: {
        state: 'created',
        mesosState: 'CREATED',
        pid: 0,
        startedAt: parseTimeNs(info.State.StartedAt),
        termination: undefined,
        user: undefined,
        info: { containerizer: 'docker', dockerId: s.Id },
      },
    };
    dz.containers.set(spec.id, c);
    if (info.State.Running) {
      await dz.attachRunning(c);
      out.push({ id: spec.id, state: 'running', runtime: c.runtime });
    } else if (info.State.Status === 'created') {
      out.push({ id: spec.id, state: 'created', runtime: c.runtime });
    } else {
      const term = terminationOf(info);
      Object.assign(c.runtime, { state: 'exited', mesosState: 'EXITED', termination: term });
      out.push({ id: spec.id, state: 'exited', runtime: c.runtime });
    }
  }
  return out;
}
