/**
 * The pod and container verbs of RuntimeService, keyed as the service definition names them, so that
 * server.ts registers them in one line.
 */
import type { CriDeps } from '../deps.js';
import { attach } from './attach.js';
import { containerStats } from './container-stats.js';
import { containerStatus } from './container-status.js';
import { createContainer } from './create-container.js';
import { exec } from './exec.js';
import { execSync } from './exec-sync.js';
import { getContainerEvents } from './get-container-events.js';
import { listContainerStats } from './list-container-stats.js';
import { listContainers } from './list-containers.js';
import { listMetricDescriptors } from './list-metric-descriptors.js';
import { listPodSandbox } from './list-pod-sandbox.js';
import { listPodSandboxMetrics } from './list-pod-sandbox-metrics.js';
import { listPodSandboxStats } from './list-pod-sandbox-stats.js';
import { podSandboxStats } from './pod-sandbox-stats.js';
import { podSandboxStatus } from './pod-sandbox-status.js';
import { portForward } from './port-forward.js';
import { removeContainer } from './remove-container.js';
import { removePodSandbox } from './remove-pod-sandbox.js';
import { checkpointContainer } from './checkpoint-container.js';
import { reopenContainerLog } from './reopen-container-log.js';
import { runPodSandbox } from './run-pod-sandbox.js';
import { startContainer } from './start-container.js';
import { stopContainer } from './stop-container.js';
import { stopPodSandbox } from './stop-pod-sandbox.js';
import { streamContainerStats } from './stream-container-stats.js';
import { streamContainers } from './stream-containers.js';
import { streamPodSandboxMetrics } from './stream-pod-sandbox-metrics.js';
import { streamPodSandboxStats } from './stream-pod-sandbox-stats.js';
import { streamPodSandboxes } from './stream-pod-sandboxes.js';
import { updateContainerResources } from './update-container-resources.js';
import { updatePodSandboxResources } from './update-pod-sandbox-resources.js';

/** Every pod and container handler, bound to `deps`. */
export function podAndContainerHandlers(deps: CriDeps) {
  return {
    runPodSandbox: runPodSandbox(deps),
    stopPodSandbox: stopPodSandbox(deps),
    removePodSandbox: removePodSandbox(deps),
    podSandboxStatus: podSandboxStatus(deps),
    listPodSandbox: listPodSandbox(deps),
    streamPodSandboxes: streamPodSandboxes(deps),
    createContainer: createContainer(deps),
    startContainer: startContainer(deps),
    stopContainer: stopContainer(deps),
    removeContainer: removeContainer(deps),
    listContainers: listContainers(deps),
    streamContainers: streamContainers(deps),
    containerStatus: containerStatus(deps),
    updateContainerResources: updateContainerResources(deps),
    updatePodSandboxResources: updatePodSandboxResources(deps),
    reopenContainerLog: reopenContainerLog(deps),
    checkpointContainer: checkpointContainer(deps),
    execSync: execSync(deps),
    exec: exec(deps),
    attach: attach(deps),
    portForward: portForward(deps),
    containerStats: containerStats(deps),
    listContainerStats: listContainerStats(deps),
    streamContainerStats: streamContainerStats(deps),
    podSandboxStats: podSandboxStats(deps),
    listPodSandboxStats: listPodSandboxStats(deps),
    streamPodSandboxStats: streamPodSandboxStats(deps),
    getContainerEvents: getContainerEvents(deps),
    listMetricDescriptors: listMetricDescriptors(),
    listPodSandboxMetrics: listPodSandboxMetrics(deps),
    streamPodSandboxMetrics: streamPodSandboxMetrics(deps),
  };
}
