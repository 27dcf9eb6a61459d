/**
 * Test ImageSource: the fixture images' layers extracted in overlay form (pkg/image applyLayer) into a temp
 * "store", one dir per layer digest, plus hand-made images. It records leases so tests can check that the
 * provisioner takes and ends them.
 */
import { createReadStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ImageConfig } from '../../../pkg/containerizer/index.js';
import { applyLayer } from '../../../pkg/image/index.js';
import type { ImageLayers, ImageSource } from '../../../pkg/mesos/provisioner/index.js';
import { NotFoundError } from '../../../pkg/util/index.js';
import { type FixtureName, fixtureArchives } from '../../support/images.js';
import { emptyImageConfig } from '../../../pkg/containerizer/index.js';

const CONFIG: ImageConfig = { ...emptyImageConfig(), cmd: ['sh'] };

export class LayerSource implements ImageSource {
  /** owner → image id */
  readonly leases = new Map<string, string>();
  /** Every retain and release call, for order checks. */
  readonly calls: string[] = [];
  private readonly images = new Map<string, ImageLayers>();

  private constructor(readonly dir: string) {}

  static async create(): Promise<LayerSource> {
    return new LayerSource(await fs.mkdtemp(path.join(os.tmpdir(), 'ucri-layers-')));
  }

  /** Extracts a fixture's layers (once per digest) and registers it under its config digest, returned. */
  async addFixture(name: FixtureName): Promise<string> {
    const f = (await fixtureArchives())[name];
    const dirs: string[] = [];
    for (const l of f.layers) {
      const hex = l.digest.replace(/^sha256:/, '');
      const dir = path.join(this.dir, 'layers', hex);
      if (!(await fs.stat(dir).catch(() => undefined))) {
        const staging = `${dir}.staging`;
        await fs.mkdir(staging, { recursive: true });
        const blob = path.join(f.paths.ociLayout, 'blobs', 'sha256', hex);
        await applyLayer(createReadStream(blob), staging, { format: 'overlay', diffId: l.diffId });
        await fs.rename(staging, dir);
      }
      dirs.push(dir);
    }
    this.add(f.configDigest, dirs);
    return f.configDigest;
  }

  /** Registers an image made of `layerDirs` (base first). */
  add(imageId: string, layerDirs: string[]): void {
    this.images.set(imageId, { imageId, kind: 'docker', config: { ...CONFIG }, layerDirs });
  }

  async layers(imageId: string): Promise<ImageLayers> {
    const i = this.images.get(imageId);
    if (!i) throw new NotFoundError(`image "${imageId}" not found`);
    return { ...i, layerDirs: [...i.layerDirs] };
  }

  async retain(owner: string, imageId: string): Promise<void> {
    this.calls.push(`retain ${owner}`);
    if (!this.images.has(imageId)) throw new NotFoundError(`image "${imageId}" not found`);
    this.leases.set(owner, imageId);
  }

  async release(owner: string): Promise<void> {
    this.calls.push(`release ${owner}`);
    this.leases.delete(owner);
  }

  async cleanup(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

/** Mount points at or below `dir`, from /proc/self/mountinfo (raw text, so nothing is parsed away). */
export async function mountsBelow(dir: string): Promise<string[]> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)));
}
