/**
 * Last-resort cleanup of what a test process started (registry processes, temp dirs) when it ends without
 * cleaning up: on normal exit, and on SIGINT/SIGTERM/SIGHUP (a killed test run), which skip 'exit' handlers.
 * Handlers must be synchronous. After a signal the process still dies of it, unless other code listens for it.
 */
const handlers: Array<() => void> = [];
let installed = false;

function runAll(): void {
  for (const h of handlers.splice(0)) {
    try {
      h();
    } catch {
      // best effort: one failing cleanup must not stop the others
    }
  }
}

/** Registers a synchronous cleanup to run once when the process ends. */
export function onProcessExit(fn: () => void): void {
  handlers.push(fn);
  if (installed) return;
  installed = true;
  process.once('exit', runAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      runAll();
      // Re-raise with the default action, so the exit status still tells of the signal; leave the process to
      // any other listener that has its own plan for the signal.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.once(sig, onSignal);
  }
}
