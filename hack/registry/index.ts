/**
 * A local Distribution registry (Debian `docker-registry`) on 127.0.0.1 for tests and manual use, with optional
 * htpasswd basic auth.
 */
export { htpasswdFile, type RegistryConfigInput, type RegistryUser, registryConfig } from './config.js';
export { freePort, REGISTRY_BINARY, type RegistryOptions, type RunningRegistry, startRegistry } from './registry.js';
export { onProcessExit } from './exit-cleanup.js';
