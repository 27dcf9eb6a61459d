/**
 * The composing containerizer (Mesos `ComposingContainerizer`): routes each request to the containerizer
 * that serves its CRI runtime handler. The handler is the one seam where the backend is chosen (STYLE 9).
 */
import { InvalidArgumentError } from '../util/index.js';
import type { Condition, Conditions, Containerizer } from './types.js';

/** The default runtime handler (`""`) is served by the first containerizer. */
export class ComposingContainerizer {
  private readonly byHandler = new Map<string, Containerizer>();

  constructor(readonly containerizers: readonly Containerizer[]) {
    if (containerizers.length === 0) throw new InvalidArgumentError('at least one containerizer is needed');
    for (const c of containerizers) for (const h of c.handlers) this.byHandler.set(h, c);
    this.byHandler.set('', containerizers[0]!);
  }

  /** Runtime handlers in the order Status/RuntimeConfig report them. */
  handlers(): Array<{ name: string; containerizer: Containerizer }> {
    return this.containerizers.flatMap((c) => c.handlers.map((name) => ({ name, containerizer: c })));
  }

  /**
   * The runtime handlers Status reports: those of containerizers that are available now (a Docker
   * containerizer whose dockerd does not answer is left out), in the order of handlers().
   */
  async availableHandlers(signal?: AbortSignal): Promise<Array<{ name: string; containerizer: Containerizer }>> {
    const up = await Promise.all(
      this.containerizers.map(async (c) => (c.available ? c.available(signal).catch(() => false) : true)),
    );
    return this.handlers().filter((h) => up[this.containerizers.indexOf(h.containerizer)]);
  }

  /** The containerizer of a runtime handler; unknown handlers are an invalid argument. */
  select(handler: string): Containerizer {
    const c = this.byHandler.get(handler);
    if (!c) {
      const known = [...this.byHandler.keys()].filter((k) => k !== '');
      throw new InvalidArgumentError(`unknown runtime handler "${handler}" (known: ${known.join(', ')})`);
    }
    return c;
  }

  /**
   * Overall readiness: the default containerizer decides; others that are not ready are named in the
   * message but do not make the node unready (their pods fail on their own).
   */
  async conditions(signal?: AbortSignal): Promise<Conditions> {
    const all = await Promise.all(this.containerizers.map((c) => c.conditions(signal)));
    const first = all[0]!;
    const note = (pick: (c: Conditions) => Condition): Condition => {
      const main = pick(first);
      const others = all
        .slice(1)
        .map((c, i) => ({ c: pick(c), name: this.containerizers[i + 1]!.handlers[0] }))
        .filter((o) => !o.c.ready)
        .map((o) => `${o.name}: ${o.c.message}`);
      if (others.length === 0) return main;
      return { ...main, message: [main.message, ...others].filter((s) => s).join('; ') };
    };
    return { runtime: note((c) => c.runtime), network: note((c) => c.network) };
  }
}
