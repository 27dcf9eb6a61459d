/**
 * Undo lists (STYLE 4), one for every layer: each side effect registers its undo right after it happened; on
 * failure the undos run newest first, each under its own deadline rather than the request's (which may be
 * what failed), and a failing step is logged without stopping the others.
 */
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';

/** How long one undo step may take unless the owner says otherwise. */
export const UNDO_STEP_MS = 60_000;

export class Rollback {
  private readonly steps: Array<{ what: string; fn: (signal: AbortSignal) => Promise<unknown> | unknown }> = [];

  /** `stepMs`: the deadline each undo step gets. */
  constructor(
    private readonly log: Logger,
    private readonly stepMs = UNDO_STEP_MS,
  ) {}

  /** Registers the undo of something that was just done. */
  add(what: string, fn: (signal: AbortSignal) => Promise<unknown> | unknown): void {
    this.steps.push({ what, fn });
  }

  /** Forgets every undo (the operation succeeded). */
  commit(): void {
    this.steps.length = 0;
  }

  /** Runs every undo, newest first; failures are logged (with `context`) and do not stop the others. */
  async run(context: Record<string, unknown> = {}): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.fn(AbortSignal.timeout(this.stepMs));
      } catch (err) {
        this.log.error({ ...context, step: step.what, err: errorMessage(err) }, 'rollback step failed');
      }
    }
  }
}

/**
 * Runs `steps` one after the other, all of them even when some fail, and throws the first failure
 * afterwards (idempotent teardown: a retry redoes what failed).
 */
export async function allSteps(steps: Array<() => Promise<unknown>>): Promise<void> {
  let first: unknown;
  let failed = false;
  for (const s of steps) {
    try {
      await s();
    } catch (err) {
      if (!failed) first = err;
      failed = true;
    }
  }
  if (failed) throw first;
}
