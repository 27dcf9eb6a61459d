/**
 * Where dockerd pulls an image from and with which credentials: ucri's registry mirrors apply to dockerd's
 * pulls too (the first mirror endpoint of the image's registry, the image then tagged with the name the pod
 * asked for), and the configured credentials go in X-Registry-Auth. A pull with CRI auth goes through
 * ucri's own store instead; dockerd only ever pulls what kubelet already pulled into ucri.
 */
import { type CredentialLookup, parseReference } from '../image/index.js';
import type { RegistryAuth } from './api.js';

export type PullSource = (ref: string) => Promise<{ ref: string; auth: RegistryAuth | undefined }>;

/** Builds the pull source of the Docker containerizer from ucri's registry configuration. */
export function pullSourceFrom(
  mirrors: Record<string, { endpoints: string[] }>,
  credentials: CredentialLookup,
): PullSource {
  return async (ref) => {
    const r = parseReference(ref);
    const mirror = mirrors[r.domain]?.endpoints[0];
    const host = mirror ? new URL(mirror).host : r.domain;
    const pullRef = mirror ? `${host}/${r.path}${r.digest ? `@${r.digest}` : `:${r.tag ?? 'latest'}`}` : ref;
    const c = credentials(host) ?? credentials(r.domain);
    let auth: RegistryAuth | undefined;
    if (c?.identityToken) auth = { identitytoken: c.identityToken, serveraddress: host };
    else if (c?.username) auth = { username: c.username, password: c.password ?? '', serveraddress: host };
    else if (c?.auth) {
      const text = Buffer.from(c.auth, 'base64').toString('utf8');
      const colon = text.indexOf(':');
      if (colon > 0) auth = { username: text.slice(0, colon), password: text.slice(colon + 1), serveraddress: host };
    }
    return { ref: pullRef, auth };
  };
}
