/**
 * Image references as Docker and containerd understand them. `busybox` normalizes to
 * `docker.io/library/busybox:latest`; `localhost:5000/x@sha256:…` keeps its host and digest.
 *
 * Grammar (distribution/reference): [domain '/'] path [':' tag] ['@' digest]. The first path component is a
 * domain only when it contains '.' or ':' or is 'localhost' (or is a bracketed IPv6 literal); otherwise the
 * domain is docker.io and single-component names get the `library/` prefix.
 */
import { InvalidArgumentError } from '../util/index.js';
import { parseDigest } from './digest.js';

/** A normalized image reference. `tag` is 'latest' when neither tag nor digest was given. */
export interface ImageReference {
  /** Registry host as written by users, with port: `docker.io`, `registry.k8s.io`, `localhost:5000`. */
  readonly domain: string;
  /** Repository path inside the registry: `library/busybox`, `e2e-test-images/busybox`. */
  readonly path: string;
  readonly tag?: string;
  /** `sha256:<64 hex>`; when present it, not the tag, selects the manifest. */
  readonly digest?: string;
}

/** The default registry of unqualified names. */
export const DOCKER_DOMAIN = 'docker.io';
const LEGACY_DOCKER_DOMAINS = new Set(['index.docker.io', 'registry-1.docker.io']);
const MAX_NAME_LENGTH = 255;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^\w[\w.-]{0,127}$/;
const HOST_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${HOST_LABEL}(?:\\.${HOST_LABEL})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]{1,5})?$`);

function invalid(input: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid image reference "${input}": ${why}`);
}

function looksLikeDomain(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component.startsWith('[');
}

/**
 * Parses and normalizes a reference. Throws InvalidArgumentError naming the input when it is not a valid
 * reference (uppercase repository, bad tag, unsupported digest algorithm, empty components, too long…).
 */
export function parseReference(input: string): ImageReference {
  if (input.length === 0) throw invalid(input, 'empty');
  if (input !== input.trim()) throw invalid(input, 'surrounding whitespace');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    try {
      digest = parseDigest(rest.slice(at + 1));
    } catch (err) {
      throw invalid(input, (err as Error).message);
    }
    rest = rest.slice(0, at);
  }

  // A tag is after the last ':' that follows the last '/', so "host:5000/repo" keeps its port.
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(input, `invalid tag "${tag}"`);
  }
  if (rest.length === 0) throw invalid(input, 'empty repository name');

  let domain = DOCKER_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0 && looksLikeDomain(rest.slice(0, slash))) {
    domain = rest.slice(0, slash);
    path = rest.slice(slash + 1);
    if (!DOMAIN.test(domain)) throw invalid(input, `invalid registry host "${domain}"`);
    const port = /:([0-9]+)$/.exec(domain)?.[1];
    if (port !== undefined && Number(port) > 65535) throw invalid(input, `invalid port in "${domain}"`);
  }
  if (LEGACY_DOCKER_DOMAINS.has(domain)) domain = DOCKER_DOMAIN;
  if (domain === DOCKER_DOMAIN && !path.includes('/')) path = `library/${path}`;

  if (path.length === 0) throw invalid(input, 'empty repository name');
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      const why =
        component.toLowerCase() !== component ? 'repository name must be lowercase' : 'invalid path component';
      throw invalid(input, `${why} "${component}"`);
    }
  }
  if (domain.length + 1 + path.length > MAX_NAME_LENGTH) throw invalid(input, 'repository name too long');

  if (tag === undefined && digest === undefined) tag = 'latest';
  const ref: { domain: string; path: string; tag?: string; digest?: string } = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `docker.io/library/busybox` — the fully qualified repository, without tag or digest. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The canonical string: `docker.io/library/busybox:latest`, `host/repo@sha256:…`, or both tag and digest. */
export function formatReference(ref: ImageReference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** `repo:tag` (repo tag as CRI lists it in `repo_tags`), or undefined for a digest-only reference. */
export function tagReference(ref: ImageReference): string | undefined {
  return ref.tag === undefined ? undefined : `${repositoryName(ref)}:${ref.tag}`;
}

/** `repo@digest` (as CRI lists it in `repo_digests`) for the given manifest digest. */
export function digestReference(ref: ImageReference, digest: string): string {
  return `${repositoryName(ref)}@${digest}`;
}

/**
 * The short form Docker prints: `docker.io/library/busybox:latest` → `busybox:latest`,
 * `docker.io/user/app:1` → `user/app:1`; other registries are kept.
 */
export function familiarName(ref: ImageReference): string {
  let name = repositoryName(ref);
  if (ref.domain === DOCKER_DOMAIN) {
    name = ref.path.startsWith('library/') && ref.path.split('/').length === 2 ? ref.path.slice(8) : ref.path;
  }
  if (ref.tag !== undefined) name += `:${ref.tag}`;
  if (ref.digest !== undefined) name += `@${ref.digest}`;
  return name;
}

/** The tag or digest to ask the registry for: the digest wins when both are present. */
export function manifestSelector(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}
