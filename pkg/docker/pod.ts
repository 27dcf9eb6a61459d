/**
 * Docker pods: an infra container from the pause image with network `none`, whose network namespace is
 * pinned by a bind mount under `<runtime_dir>/docker/ns/<pod>/net` and attached through pkg/cni (the same
 * code the Mesos containerizer uses). The pin keeps the namespace the CNI plugins configured even if the
 * infra process dies, and pinning re-checks the infra's pid after the mount, so a reused pid's namespace
 * is never taken. App containers join the infra's network and IPC namespaces (and PID, per NamespaceMode).
 *
 * Every step is findable without ucri's memory: the infra's name is derived from the pod id, the pin path
 * too, and CNI attachments are checkpointed by pkg/cni; so a failed or crash-interrupted runPod is undone
 * by the same stopPod/removePod that tears down a finished one.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { CniAttacher } from '../cni/index.js';
import type { PodSpec } from '../containerizer/index.js';
import { bindMount, isPinned, pinPaths, removePinnedNamespaces } from '../sys/index.js';
import { errorMessage, FailedPreconditionError, isKind, logger } from '../util/index.js';
import type { EngineApi, RegistryAuth } from './api.js';
import { infraBody, infraName } from './translate.js';

const log = logger('docker/pod');

/** What the containerizer keeps about a live docker pod. */
export interface DockerPod {
  spec: PodSpec;
  infraId: string;
  /** The pinned network namespace; '' for host network. */
  netns: string;
  ips: string[];
  /** Set once the pod can run nothing any more without being stopped (its infra ended): why. */
  lost?: string;
}

export interface PodDeps {
  api: EngineApi;
  cni: CniAttacher;
  pinRoot: string;
  pauseImage: string;
  instance: string;
  /** Registry credentials and the reference to pull from (mirrors applied) for an image reference. */
  pullSource: (ref: string) => Promise<{ ref: string; auth: RegistryAuth | undefined }>;
}

/** Makes sure dockerd has image `ref` (pulling it through the configured mirrors and credentials). */
export async function ensureImage(d: PodDeps, ref: string, id: string | undefined, signal: AbortSignal): Promise<void> {
  try {
    await d.api.inspectImage(id ?? ref, signal);
    return;
  } catch (err) {
    if (!isKind(err, 'NotFound')) throw err;
  }
  const src = await d.pullSource(ref);
  try {
    await d.api.pullImage(src.ref, src.auth, signal);
  } catch (err) {
    if (isKind(err, 'Unavailable')) throw err;
    throw new FailedPreconditionError(`dockerd could not pull "${src.ref}": ${errorMessage(err)}`, { cause: err });
  }
  if (src.ref !== ref) {
    // Pulled from a mirror: give it the name the pod asked for.
    const at = ref.lastIndexOf(':');
    const slash = ref.lastIndexOf('/');
    const [repo, tag] = at > slash ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, 'latest'];
    if (!ref.includes('@')) await d.api.tagImage(src.ref, repo, tag, signal);
  }
}

/** Pins the network namespace of the infra's process; re-checks the pid afterwards (never a reused pid's). */
async function pinNetns(d: PodDeps, podId: string, infraId: string, pid: number): Promise<string> {
  const pin = pinPaths(d.pinRoot, podId, ['net']).net!;
  await fs.mkdir(path.dirname(pin), { recursive: true });
  await fs.writeFile(pin, '', { flag: 'a' });
  if (!(await isPinned(pin))) await bindMount(`/proc/${pid}/ns/net`, pin);
  const again = await d.api.inspectContainer(infraId);
  if (!again.State.Running || again.State.Pid !== pid) {
    await removePinnedNamespaces(d.pinRoot, podId);
    throw new FailedPreconditionError(`infra container of pod "${podId}" exited while its namespace was pinned`);
  }
  return pin;
}

/** Adds the pod's address for its hostname to the hosts file the infra and its app containers share. */
async function writeHosts(hostsPath: string, ips: string[], hostname: string): Promise<void> {
  if (!hostsPath || ips.length === 0 || !hostname) return;
  const text = await fs.readFile(hostsPath, 'utf8').catch(() => '');
  const lines = ips.map((ip) => `${ip}\t${hostname}`).filter((l) => !text.includes(l));
  if (lines.length > 0) await fs.appendFile(hostsPath, `${lines.join('\n')}\n`);
}

/** Creates and starts the infra container, pins and attaches its network. Undone by teardown on failure. */
export async function runPod(d: PodDeps, spec: PodSpec, signal: AbortSignal): Promise<DockerPod> {
  await ensureImage(d, d.pauseImage, undefined, signal);
  const name = infraName(spec.id);
  let created: { Id: string };
  try {
    created = await d.api.createContainer(name, infraBody(spec, d.pauseImage, d.instance), signal);
  } catch (err) {
    if (!isKind(err, 'AlreadyExists')) throw err;
    // Left by a crash before the record said `ready`: start over.
    await d.api.removeContainer(name, signal);
    created = await d.api.createContainer(name, infraBody(spec, d.pauseImage, d.instance), signal);
  }
  await d.api.startContainer(created.Id, signal);
  const info = await d.api.inspectContainer(created.Id, signal);
  if (!info.State.Running) {
    throw new FailedPreconditionError(`infra container of pod "${spec.id}" exited at once (${info.State.ExitCode})`);
  }
  const pod: DockerPod = { spec, infraId: created.Id, netns: '', ips: [] };
  if (spec.namespaces.network !== 'node') {
    pod.netns = await pinNetns(d, spec.id, created.Id, info.State.Pid);
    const record = await d.cni.attach(spec, pod.netns, signal);
    pod.ips = record.ips;
    await writeHosts(info.HostsPath, pod.ips, spec.hostname);
  }
  log.debug({ pod: spec.id, infra: created.Id, ips: pod.ips }, 'docker pod ready');
  return pod;
}

/** Stops the infra container and releases the network (CNI DEL with its own deadline). Idempotent. */
export async function stopPod(d: PodDeps, podId: string, signal: AbortSignal): Promise<void> {
  try {
    await d.api.stopContainer(infraName(podId), 0, signal);
  } catch (err) {
    if (!isKind(err, 'NotFound')) throw err;
  }
  await d.cni.detach(podId);
}

/** Removes the infra container, the pin, and any attachment left. Idempotent. */
export async function removePod(d: PodDeps, podId: string, signal: AbortSignal): Promise<void> {
  await d.cni.detach(podId);
  try {
    await d.api.removeContainer(infraName(podId), signal);
  } catch (err) {
    if (!isKind(err, 'NotFound')) throw err;
  }
  await removePinnedNamespaces(d.pinRoot, podId);
}
