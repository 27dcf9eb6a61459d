/**
 * Recovery of the Docker containerizer after a ucri restart: dockerd is asked for every container labelled
 * with this ucri instance; known pods get their infra, pin and CNI attachment back, known containers their
 * state (running ones their exit watch and log follower, resumed after the last line written); what carries
 * our label but has no record (a create that a crash interrupted, a pod removed while ucri was down) is
 * removed, with its pin and CNI attachment. When dockerd does not answer, recovery reports nothing; pkg/cri
 * then records running docker containers as lost (exit 255, `Unknown`). Known gap: reporting them UNKNOWN
 * and re-checking once dockerd answers would be closer to the truth.
 */
import type { CniRecord } from '../cni/index.js';
import type { ContainerSpec, PodSpec, RecoveredContainer } from '../containerizer/index.js';
import { isPinned, listPinnedIds, pinPaths, removePinnedNamespaces } from '../sys/index.js';
import { errorMessage, logger } from '../util/index.js';
import type { ContainerSummary } from './api.js';
import type { DockerContainer, RecoverTarget } from './state.js';
import { LABELS, parseTimeNs, terminationOf } from './translate.js';

const log = logger('docker/recover');

export async function recoverDocker(
  dz: RecoverTarget,
  known: { pods: PodSpec[]; containers: ContainerSpec[] },
): Promise<RecoveredContainer[]> {
  const d = dz.podDeps;
  let all: ContainerSummary[];
  try {
    all = await dz.api.listContainers([`${LABELS.instance}=${d.instance}`]);
  } catch (err) {
    log.warn({ err: errorMessage(err) }, 'dockerd does not answer: docker pods are recovered when it does');
    return [];
  }
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

  // CNI: completed attachments of known pods come back; others are DELeted.
  const restored = await d.cni.recover(
    new Map<string, CniRecord | undefined>(known.pods.map((p) => [p.id, undefined])),
  );
  for (const id of await listPinnedIds(d.pinRoot)) {
    if (!podIds.has(id)) await removePinnedNamespaces(d.pinRoot, id).catch(() => undefined);
  }

  const byLabel = (key: string, value: string): ContainerSummary | undefined =>
    all.find((s) => s.Labels?.[key] === value && (key !== LABELS.pod || !s.Labels?.[LABELS.container]));

  for (const spec of known.pods) {
    const infra = byLabel(LABELS.pod, spec.id);
    if (!infra) continue;
    const info = await dz.api.inspectContainer(infra.Id).catch(() => undefined);
    // A pod whose infra is gone or stopped is not ready any more; pkg/cri reports it NOTREADY.
    if (!info?.State.Running) continue;
    const pin = pinPaths(d.pinRoot, spec.id, ['net']).net!;
    const netns = spec.namespaces.network === 'node' ? '' : (await isPinned(pin)) ? pin : '';
    dz.pods.set(spec.id, { spec, infraId: infra.Id, netns, ips: restored.get(spec.id)?.ips ?? [] });
  }

  const out: RecoveredContainer[] = [];
  for (const spec of known.containers) {
    const s = byLabel(LABELS.container, spec.id);
    if (!s) {
      out.push({ id: spec.id, state: 'lost' });
      continue;
    }
    const info = await dz.api.inspectContainer(s.Id).catch(() => undefined);
    if (!info) {
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
