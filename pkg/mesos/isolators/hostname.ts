/**
 * The hostname a pod's containers see: the node's for host-network pods (kubelet gives them the host UTS
 * namespace), else the pod's hostname, else its name cut to a valid hostname. A helper shared by
 * filesystem/linux (/etc/hostname, /etc/hosts) and the runtime isolators (HOSTNAME), not an isolator.
 */
import os from 'node:os';
import type { PodSpec } from '../../containerizer/index.js';
import { validateHostname } from '../../sys/index.js';

/** The hostname of a pod; InvalidArgumentError when the pod's explicit hostname is not a valid one. */
export function podHostname(spec: PodSpec): string {
  if (spec.namespaces.network === 'node') return os.hostname();
  if (spec.hostname !== '') {
    validateHostname(spec.hostname);
    return spec.hostname;
  }
  // Pod names are DNS subdomains (up to 253 chars): keep the first label-safe 63 characters.
  const name = spec.name
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .slice(0, 63)
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  const h = name === '' ? spec.id.slice(0, 12) : name;
  validateHostname(h);
  return h;
}
