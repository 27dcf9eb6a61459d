/**
 * The image store's directory tree (`--docker_store_dir`, default `<work_dir>/store/docker`). Nobody else
 * concatenates these paths.
 *
 *   <store>/
 *     images.json                the image index: records by id, names, leases (written atomically)
 *     blobs/sha256/<hex>         content-addressed manifests and configs (ACI manifests for appc images)
 *     layers/<hex>/              one directory per layer, keyed by the layer's diff_id (uncompressed sha256)
 *       rootfs/                  the layer extracted in overlay form (whiteouts as 0/0 char devices)
 *       layer.json               { diffId, bytes, inodes, compressedSize } measured at extraction
 *     staging/<random>/          extractions in progress; renamed into layers/ when complete, wiped at start-up
 *     gc/<random>/               layers being deleted: renamed here first so a crash never leaves a half-deleted
 *                                layer under layers/; wiped at start-up
 *
 * A layer directory exists under `layers/` only when complete: extraction happens in `staging/` and the
 * finished directory is renamed into place (rename(2) is atomic within one filesystem).
 */
import { digestHex } from '../../../image/index.js';
import { joinPath } from '../../../util/index.js';

/** Paths of one store root. */
export class StorePaths {
  constructor(readonly root: string) {}

  get index(): string {
    return joinPath(this.root, 'images.json');
  }

  get blobsDir(): string {
    return joinPath(this.root, 'blobs', 'sha256');
  }

  blob(digest: string): string {
    return joinPath(this.blobsDir, digestHex(digest));
  }

  get layersDir(): string {
    return joinPath(this.root, 'layers');
  }

  /** `layers/<hex>` of a diff_id. */
  layer(diffId: string): string {
    return joinPath(this.layersDir, digestHex(diffId));
  }

  /** The extracted tree of a layer: what the provisioner's backends stack. */
  layerRootfs(diffId: string): string {
    return joinPath(this.layer(diffId), 'rootfs');
  }

  layerMeta(diffId: string): string {
    return joinPath(this.layer(diffId), 'layer.json');
  }

  get stagingDir(): string {
    return joinPath(this.root, 'staging');
  }

  get gcDir(): string {
    return joinPath(this.root, 'gc');
  }
}
