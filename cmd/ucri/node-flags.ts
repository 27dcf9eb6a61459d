/**
 * The node flags `ucri serve` is meant to run with (`make run`, and the daemons of tests and `make bench`).
 * V8 sizes its young generation at start-up only, so these cannot be set from inside the daemon.
 *
 * --max-semi-space-size=1: a 1 MiB semi-space instead of 16 MiB. The daemon's allocations are small and
 *   short-lived request objects; the default young generation kept ~12 MiB more resident for no measurable
 *   gain in latency (docs/performance.md).
 * --expose-gc: lets the daemon run one full collection when it goes quiet after a burst of RPCs
 *   (cmd/ucri/idle-gc.ts); without it the heap V8 grew under load stayed resident while idle.
 * --max-opt=2: V8's baseline compiler (Sparkplug) but not its optimising compiler (TurboFan; Maglev is off in
 *   node 20). TurboFan's code, zones and the heap it lets grow kept 6 MiB more resident at idle and ~10 MiB
 *   more after load, and the daemon's hot paths are waits on the kernel and child processes, not JavaScript:
 *   side by side with containerd, no verb was measurably slower without it (docs/performance.md, "Idle
 *   memory, phase 7" and "Side by side after phase 7").
 */
export const SERVE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--expose-gc', '--max-opt=2'];

/**
 * The environment `ucri serve` is meant to run with, as a default under whatever the caller's environment
 * sets (a value given there wins). Read by node before any module: the ESM loader already uses libuv's thread
 * pool to read the entry, so the daemon cannot set it for itself.
 *
 * UV_THREADPOOL_SIZE=16: every file operation and fsync of the daemon goes through libuv's pool (4 threads by
 *   default). With containers created and removed two at a time, the durable rounds' fsyncs and the
 *   provisions' file operations queued on those four; 16 cut CreateContainer's handler by ~20% in two bench
 *   pairs (docs/performance.md, "Container verbs, phase 7").
 * MALLOC_ARENA_MAX=1: glibc's malloc gives each thread that allocates while another holds the main arena an
 *   arena of its own (up to 8 per core), and each keeps pages of its own between allocations; the daemon's
 *   threads (libuv's pool, the layer worker, V8's platform threads) allocate little, so one arena serves them
 *   all. Measured after the bench's warm-up: idle 59.2–59.4 MiB against 59.1–61.1 without (nine runs each;
 *   after 30 more pod and container cycles 60.9–61.7 against 62.6–63.3, three each), with no difference in
 *   the daemon's CPU per cycle nor in the large pull (docs/performance.md, "Idle memory, phase 8").
 */
export const SERVE_ENV: Readonly<Record<string, string>> = { UV_THREADPOOL_SIZE: '16', MALLOC_ARENA_MAX: '1' };
