export type { CriDeps, RuntimeInfo } from './deps.js';
export { CriServer } from './server.js';
export { RuntimeConfigStore } from './store/runtime-config.js';
