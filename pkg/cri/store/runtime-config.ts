/**
 * The runtime configuration kubelet pushes with UpdateRuntimeConfig (today only the pod CIDR), checkpointed
 * under the work dir so a restart keeps it.
 */
import { readJson, writeJsonAtomic } from '../../util/index.js';

export interface RuntimeConfigState {
  podCidr: string;
}

export class RuntimeConfigStore {
  private state: RuntimeConfigState = { podCidr: '' };

  constructor(private readonly file: string) {}

  /** Loads the checkpoint, if any. */
  async load(): Promise<void> {
    const saved = (await readJson(this.file)) as Partial<RuntimeConfigState> | undefined;
    if (saved && typeof saved.podCidr === 'string') this.state = { podCidr: saved.podCidr };
  }

  get(): Readonly<RuntimeConfigState> {
    return this.state;
  }

  /** Stores a new pod CIDR; an empty one (kubelet sends it when unset) leaves the stored one alone. */
  async setPodCidr(cidr: string): Promise<void> {
    if (cidr === '' || cidr === this.state.podCidr) return;
    const next = { ...this.state, podCidr: cidr };
    await writeJsonAtomic(this.file, next);
    this.state = next;
  }
}
