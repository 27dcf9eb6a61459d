/**
 * Domain types of the containerizer layer. They know nothing of CRI or gRPC: pkg/cri translates CRI
 * messages into these, and lower layers (pkg/mesos, pkg/docker) implement the interfaces.
 */

/** One readiness condition of a runtime (the CRI RuntimeReady / NetworkReady conditions). */
export interface Condition {
  ready: boolean;
  /** CamelCase reason when not ready, e.g. `NoCNIConfig`; empty when ready. */
  reason: string;
  /** Human-readable explanation when not ready. */
  message: string;
}

/** Readiness of a containerizer: can it run containers, can it give pods a network. */
export interface Conditions {
  runtime: Condition;
  network: Condition;
}

/** What a containerizer can do, as reported per CRI runtime handler. */
export interface HandlerFeatures {
  recursiveReadOnlyMounts: boolean;
  userNamespaces: boolean;
}

/**
 * A containerizer (Mesos `Containerizer`): one way of running pods and containers, selected by the CRI
 * runtime handler. Ids are chosen by the caller (pkg/cri) and are unique across pods and containers.
 *
 * Call order per pod: runPod → (createContainer → startContainer → stopContainer → removeContainer)* →
 * stopPod → removePod. Contract for every method:
 * - Operations on one id are serialized by the containerizer; different ids never wait for each other.
 * - stop*, remove*, and destroy are idempotent: repeating them, or calling them for an id the containerizer
 *   does not know, succeeds.
 * - Other methods throw NotFoundError for unknown ids.
 * - A method that fails leaves nothing half-made: what it created is rolled back under its own deadline,
 *   not the (possibly aborted) request's.
 */
export interface Containerizer {
  /** The CRI runtime handler names this containerizer serves (the first is its own name). */
  readonly handlers: readonly string[];
  /** What the handler supports. */
  readonly features: HandlerFeatures;
  /**
   * Current readiness. Cheap and side-effect free; called on every CRI Status. Never throws: a failed
   * probe is reported as a condition that is not ready.
   */
  conditions(signal?: AbortSignal): Promise<Conditions>;
}
