/**
 * The provisioner contract (Mesos `Provisioner` + `Backend`, provisioner/backend.hpp): it turns an image in
 * a store into a root filesystem for one container.
 *
 * Stores hold each layer once, extracted in overlay form (whiteouts as 0/0 char devices, opaque dirs as
 * `trusted.overlay.opaque=y`). Backends build a rootfs from those layer dirs:
 * - overlay: lowerdirs = layers (top first), a writable upper + work dir per container;
 * - copy:    layers copied base→top into one dir, whiteouts applied by hand; writable;
 * - bind:    a single-layer image bind-mounted read-only;
 * - auto:    overlay where the host supports it, else copy; bind for a single layer when the container
 *            asks for a read-only rootfs.
 */
import type { ImageConfig } from '../../containerizer/index.js';

/** What a store knows about one image, for provisioning. */
export interface ImageLayers {
  imageId: string;
  kind: 'docker' | 'appc';
  config: ImageConfig;
  /** Extracted layer directories, base first. */
  layerDirs: string[];
}

/**
 * The store side, as the provisioner sees it. Leases keep an image's layers from being removed while a
 * container uses them (RemoveImage of an image in use only drops its names until the last lease ends).
 */
export interface ImageSource {
  /** NotFoundError when the image is not in the store. */
  layers(imageId: string): Promise<ImageLayers>;
  /** Marks `imageId` as used by `owner` (a container id); idempotent. */
  retain(owner: string, imageId: string): Promise<void>;
  /** Ends `owner`'s lease; idempotent. */
  release(owner: string): Promise<void>;
  /**
   * Called once recovery has taken again (retain) the lease of every container it keeps: any other lease the
   * source remembers is stale. Sources that keep leases only in memory rely on it (no write per retain).
   */
  leasesRecovered?(): Promise<void>;
}

export type BackendName = 'overlay' | 'copy' | 'bind';

export interface Provisioned {
  rootfs: string;
  backend: BackendName;
  image: ImageLayers;
  /** The writable directory whose usage is the container's writable layer (overlay upper / copy dir). */
  writableDir?: string;
}

export interface ProvisionOptions {
  readonlyRootfs: boolean;
  signal?: AbortSignal;
  deferSync?: boolean;
  deferMount?: boolean;
  /**
   * The caller's record of intent, still being written: awaited before the rootfs is mounted (a backend that
   * mounts at provision: bind, or overlay without `deferMount`); the dirs and the record of the container's
   * own dir may be made before. A rejection fails the provision, which leaves nothing behind.
   */
  intent?: Promise<void>;
}

export interface Provisioner {
  /**
   * Start-up: keeps the rootfses of `known` container ids (re-mounting overlays that a reboot or unmount
   * lost) and destroys every other one (orphans). The rootfses of `opts.unmounted` (containers not started)
   * are kept as they are, mounted or not: `mount` mounts them at start.
   */
  recover(known: readonly string[], opts?: { unmounted?: readonly string[] }): Promise<void>;
  /**
   * Builds the rootfs; AlreadyExists if `containerId` has one. Failure leaves nothing behind. The record of
   * the rootfs is durable when this returns, unless `deferSync` is set: then it is only visible (renamed into
   * place) and the caller makes it durable with `sync`, typically at the same time as its own record.
   * With `deferMount`, a rootfs that is a mount (overlay) is left unmounted, its dirs made: `mount` mounts it
   * (containerd prepares a snapshot at create and mounts it at start). The rootfs's content is not readable
   * at `rootfs` until then.
   */
  provision(containerId: string, imageId: string, opts: ProvisionOptions): Promise<Provisioned>;
  /**
   * Mounts the rootfs of a known container if it is not mounted (a provision with `deferMount`, a reboot, a
   * recovery that left it); idempotent. Its record (durable since the create) is the record of intent: a
   * crash after the mount leaves a mount under the container's dir, which destroy and recovery of an unknown
   * id remove with the dir. NotFound when `containerId` has no rootfs.
   */
  mount?(containerId: string, signal?: AbortSignal): Promise<void>;
  /**
   * Makes the record of a rootfs that `provision` made with `deferSync` durable (no-op when it already is).
   * NotFound when `containerId` has no rootfs.
   */
  sync?(containerId: string): Promise<void>;
  /** What `provision` returned, for a known container (after a restart too); undefined otherwise. */
  get(containerId: string): Promise<Provisioned | undefined>;
  /** Unmounts and removes the rootfs and ends the image lease; idempotent. */
  destroy(containerId: string): Promise<void>;
  /** Stops background work (the daemon shuts down); the rootfses stay as they are. */
  close?(): Promise<void>;
  /** Bytes and inodes of the writable layer. */
  usage(containerId: string): Promise<{ bytes: number; inodes: number; mountpoint: string }>;
  /**
   * Optional background measuring of every writable layer, one pass per `intervalMs`; `onPass` gets each
   * pass's figures by container id. Returns the stop function.
   */
  watchUsage?(
    intervalMs: number,
    onPass: (figures: ReadonlyMap<string, { bytes: number; inodes: number; mountpoint: string }>) => Promise<void>,
  ): () => void;
  /** Optional: the directory of the writable layers and their summed bytes and inodes (ImageFsInfo). */
  storeUsage?(): Promise<{ bytes: number; inodes: number; mountpoint: string }>;
}
