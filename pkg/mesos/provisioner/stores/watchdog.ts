/**
 * The pull progress watchdog (`image_pull_progress_timeout`): a pull that makes no progress (no byte downloaded
 * or extracted, no layer finished) for the timeout is cancelled, so a registry or mirror that stalls mid-blob
 * cannot hold a node's pull forever. It bounds silence, never the pull's total duration: a slow but moving
 * download of a huge image is left alone.
 */
import { DeadlineExceededError } from '../../../util/index.js';

/** containerd's default for the same setting. */
export const DEFAULT_PULL_PROGRESS_TIMEOUT_MS = 5 * 60_000;

export class ProgressWatchdog {
  private readonly controller = new AbortController();
  private last = Date.now();
  private timer: NodeJS.Timeout | undefined;

  /** `timeoutMs` 0 turns the watchdog off (its signal never aborts). */
  constructor(
    private readonly timeoutMs: number,
    private readonly what: string,
  ) {
    if (timeoutMs > 0) this.arm(timeoutMs);
  }

  /** Aborts, with a DeadlineExceededError naming the pull, once the pull stalled for the timeout. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Records progress. Called per downloaded chunk, so it only stamps the time; the timer re-arms lazily. */
  touch(): void {
    this.last = Date.now();
  }

  /** Ends the watch (the pull finished either way). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      const quiet = Date.now() - this.last;
      if (quiet < this.timeoutMs) {
        this.arm(this.timeoutMs - quiet);
        return;
      }
      this.timer = undefined;
      const secs = Math.round(this.timeoutMs / 100) / 10;
      this.controller.abort(
        new DeadlineExceededError(
          `pulling ${this.what}: no progress for ${secs} s (image_pull_progress_timeout); pull cancelled`,
        ),
      );
    }, ms);
  }
}
