export type { CriDeps, RuntimeInfo } from './deps.js';
export { CriServer } from './server.js';
export { RuntimeConfigStore } from './store/runtime-config.js';
export { ContainerEvents } from './events.js';
export { recoverRuntime } from './runtime/recover.js';
export { ContainerStore } from './store/container.js';
export { SandboxStore } from './store/sandbox.js';
export { type DaemonMetrics, loadDaemonMetrics } from './metrics/index.js';
