/**
 * Which URLs serve a registry host: its mirrors, in the configured order, then the host itself. Plain
 * http is used, as Docker does, for loopback registries and for hosts listed as insecure; https otherwise.
 */
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../../util/index.js';
import { DOCKER_DOMAIN } from '../reference.js';

/** Mirrors per registry host (the reference's domain, e.g. `docker.io`, `registry.k8s.io`). */
export type MirrorConfig = Readonly<Record<string, { readonly endpoints: readonly string[] }>>;

/** One place to send `/v2/…` requests to. */
export interface Endpoint {
  /** Base URL without the trailing slash; requests go to `${base}/v2/<repo>/…`. */
  readonly base: string;
  /** `host[:port]` of the base, used for credentials lookup and error messages. */
  readonly host: string;
  /** True for a mirror, false for the registry the reference names. */
  readonly mirror: boolean;
}

/** True for `localhost`, 127.0.0.0/8 and ::1, with or without a port. */
export function isLoopbackHost(hostPort: string): boolean {
  let host = hostPort;
  if (host.startsWith('[')) host = host.slice(1, host.indexOf(']'));
  else if (host.split(':').length === 2) host = host.slice(0, host.indexOf(':'));
  host = host.toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** The host that actually serves a domain: Docker Hub's API lives on registry-1.docker.io. */
export function upstreamHost(domain: string): string {
  return domain === DOCKER_DOMAIN ? 'registry-1.docker.io' : domain;
}

function schemeFor(hostPort: string, insecure: ReadonlySet<string>): 'http' | 'https' {
  const bare = hostPort.startsWith('[') ? hostPort.slice(0, hostPort.indexOf(']') + 1) : hostPort.split(':')[0]!;
  return isLoopbackHost(hostPort) || insecure.has(hostPort) || insecure.has(bare) ? 'http' : 'https';
}

/**
 * Parses a configured endpoint: a full `http(s)://host[:port][/prefix]` URL keeps its scheme; a bare
 * `host[:port][/prefix]` gets http when loopback or insecure, https otherwise.
 */
export function parseEndpoint(spec: string, mirror: boolean, insecure: ReadonlySet<string>): Endpoint {
  const text = spec.includes('://') ? spec : `${schemeFor(spec.split('/')[0]!, insecure)}://${spec}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch (err) {
    throw new InvalidArgumentError(`invalid registry endpoint "${spec}"`, { cause: err });
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username) {
    throw new InvalidArgumentError(`invalid registry endpoint "${spec}": expected http(s)://host[:port][/path]`);
  }
  const path = url.pathname.replace(/\/+$/, '').replace(/\/v2$/, '');
  return { base: `${url.protocol}//${url.host}${path}`, host: url.host, mirror };
}

/** The endpoints to try for a domain, mirrors first; invalid mirror specs throw InvalidArgumentError. */
export function endpointsFor(domain: string, mirrors: MirrorConfig, insecure: ReadonlySet<string>): Endpoint[] {
  const out = (mirrors[domain]?.endpoints ?? []).map((e) => parseEndpoint(e, true, insecure));
  const upstream = upstreamHost(domain);
  const insecureUpstream = insecure.has(domain) ? new Set([...insecure, upstream]) : insecure;
  out.push(parseEndpoint(upstream, false, insecureUpstream));
  return out;
}
