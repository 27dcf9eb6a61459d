/**
 * The compiled seccomp filters of crun's creates, kept by the daemon so that a profile is compiled once.
 *
 * `crun create` compiles the spec's seccomp section with libseccomp on every create (10–14 ms of a ~30 ms
 * create on this project's machines, docs/performance.md "crun, phase 9"). crun can cache the result itself,
 * but only when built with libgcrypt for the cache's checksum, which Debian's crun 1.8 is not. It also
 * accepts a filter compiled before, as base64 in the annotation `run.oci.seccomp_bpf_data`, and then skips
 * the compilation and writes that data where it would have written its own: `<root>/<id>/seccomp.bpf`, the
 * file `crun exec` later loads for the container's other processes.
 *
 * So after a create that compiled a profile, the filter crun wrote for it is read back from crun's state dir
 * (root's, 0700, written by crun before the create returned) and kept under the profile's digest; the next
 * create with the same profile gets it in that annotation. The filter is crun's own output for the very same
 * section, so what the container runs under is unchanged. Not taken: a profile with a notify listener (its
 * filter is bound to the listener at create), and any spec that sets a `run.oci.seccomp*` annotation itself
 * (those change how crun compiles). The seccomp section stays in the spec: crun still reads its flags. Kept in
 * memory only, for the daemon's life, a bounded number of profiles.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { logger } from '../util/index.js';
import type { Spec } from './spec.js';

const log = logger('oci/seccomp-bpf-cache');

/** The annotation crun (≥ 0.19) takes a compiled filter from, base64. */
export const SECCOMP_BPF_ANNOTATION = 'run.oci.seccomp_bpf_data';

/** How many distinct profiles are kept (RuntimeDefault, Unconfined needs none, a few Localhost ones). */
const MAX_PROFILES = 32;

/** What a create needs to do about the filter: the spec to write, and the profile to learn after it. */
export interface SeccompPlan {
  spec: Spec;
  /** Set when the create compiles the profile: its digest, to `learn` once the create has succeeded. */
  learnAs?: string;
}

export class SeccompBpfCache {
  private readonly filters = new Map<string, string>();

  constructor(private readonly root: string) {}

  /** The spec for `crun create`: with the compiled filter when this profile's is known. */
  plan(spec: Spec): SeccompPlan {
    const seccomp = spec.linux?.seccomp;
    if (!seccomp || seccomp.listenerPath) return { spec };
    if (Object.keys(spec.annotations ?? {}).some((k) => k.startsWith('run.oci.seccomp'))) return { spec };
    const digest = createHash('sha256').update(JSON.stringify(seccomp)).digest('hex');
    const bpf = this.filters.get(digest);
    if (bpf === undefined) return { spec, learnAs: digest };
    return { spec: { ...spec, annotations: { ...spec.annotations, [SECCOMP_BPF_ANNOTATION]: bpf } } };
  }

  /** After container `id`'s create compiled profile `digest`: keeps the filter crun wrote for it. */
  async learn(id: string, digest: string): Promise<void> {
    if (this.filters.has(digest)) return;
    try {
      const data = await fs.readFile(path.join(this.root, id, 'seccomp.bpf'));
      // A classic BPF program is whole 8-byte instructions; anything else is not crun's filter.
      if (data.length === 0 || data.length % 8 !== 0) return;
      if (this.filters.size >= MAX_PROFILES) this.filters.delete(this.filters.keys().next().value!);
      this.filters.set(digest, data.toString('base64'));
    } catch (err) {
      log.debug({ id, err }, 'compiled seccomp filter not kept');
    }
  }

  /** How many profiles are kept (tests). */
  get size(): number {
    return this.filters.size;
  }
}
