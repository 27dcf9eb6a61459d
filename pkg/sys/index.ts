/**
 * pkg/sys: thin, async wrappers over the Linux host — processes, mounts, cgroups, namespace pins — used by
 * the OCI driver, the provisioner and the isolators. It imports only pkg/util.
 */
export * from './cgroup-limits.js';
export * from './cgroups.js';
export * from './mount.js';
export * from './namespaces.js';
export * from './netns.js';
export * from './proc.js';
export * from './spawn.js';
export * from './mount-server.js';
export * from './native.js';
export * from './process-tree.js';
export * from './port-connect.js';
export * from './netdev.js';
export * from './capabilities.js';
export * from './disk-usage.js';
export * from './root-path.js';
export * from './memory.js';
export * from './top-dir.js';
