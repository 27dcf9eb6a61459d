/**
 * pkg/oci: OCI runtime-spec types and defaults, the runtime CLI driver (runc/crun) and containers under
 * conmon (create, exit, exec, log control). Imports pkg/sys and pkg/util only.
 */
export * from './conmon.js';
export * from './defaults.js';
export * from './exec.js';
export * from './runtime.js';
export * from './seccomp.js';
export * from './spec.js';
export * from './sync-pipe.js';
export * from './exec-stream.js';
export * from './attach.js';
export * from './runc-state.js';
export * from './seccomp-bpf-cache.js';
export * from './exec-sync-relay.js';
