/**
 * Rootfs backends of the provisioner: overlay (default), copy, bind, and the `auto` chooser. The backend
 * of each container is chosen at one seam (MesosProvisioner.provision) and remembered in its record.
 */
import { FailedPreconditionError, InvalidArgumentError } from '../../../util/index.js';
import type { BackendName } from '../types.js';
import { bindBackend } from './bind.js';
import { copyBackend } from './copy.js';
import { overlayBackend } from './overlay.js';
import type { Backend } from './types.js';

export { BackendChooser, type OverlaySupport, probeOverlay } from './auto.js';
export { BIND_REQUIRED_DIRS, missingMountTargets } from './bind.js';
export type { Backend, BackendContext } from './types.js';

/** What `--image_provisioner_backend` may name. */
export type BackendChoice = BackendName | 'auto';

const BACKENDS: Readonly<Record<BackendName, Backend>> = {
  overlay: overlayBackend,
  copy: copyBackend,
  bind: bindBackend,
};

/** The backend object of a name. */
export function backendOf(name: BackendName): Backend {
  return BACKENDS[name];
}

/**
 * Validates a configured backend name. `aufs` gets its own FailedPreconditionError: Mesos offered it, but
 * it is not in mainline kernels; anything else unknown is an InvalidArgumentError naming the choices.
 */
export function parseBackendChoice(name: string): BackendChoice {
  if (name === 'overlay' || name === 'copy' || name === 'bind' || name === 'auto') return name;
  if (name === 'aufs') {
    throw new FailedPreconditionError(
      'the aufs rootfs backend is not available: aufs is not in modern kernels; use overlay, copy, bind or auto',
    );
  }
  throw new InvalidArgumentError(`unknown rootfs backend "${name}" (overlay, copy, bind or auto)`);
}
