/**
 * pkg/docker: the Docker containerizer (runtime handler `docker`) and its Engine API client. It imports
 * pkg/cni, pkg/containerizer, pkg/image, pkg/sys and pkg/util.
 */
export { type ContainerInspect, EngineApi, type EngineEvent, type RegistryAuth } from './api.js';
export { compareApiVersions, DockerClient, engineError, MAX_API_VERSION, MIN_API_VERSION } from './client.js';
export { DockerContainerizer, type DockerContainerizerOptions } from './containerizer.js';
export { lastLogTimestamp, LogFollower, logResumePoint } from './log-writer.js';
export { listeningPorts } from './port-forward.js';
export { demux, encodeFrame, FrameDecoder, jsonLines, type StreamKind } from './streams.js';
export { containerNameOf, infraName, LABELS, parseTimeNs, unknownCapability } from './translate.js';
export { type PullSource, pullSourceFrom } from './pull-source.js';
