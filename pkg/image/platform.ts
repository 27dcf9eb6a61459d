/**
 * Platform selection in manifest lists and OCI indexes, with the same notion of compatibility as
 * containerd: os and architecture must match; for arm, a v7 host also runs v6 and v5 images (the closest
 * variant wins); arm64 treats "" and "v8" alike; amd64 prefers the baseline (no variant, or v1).
 */
import { NotFoundError } from '../util/index.js';
import type { Descriptor, ImageIndex, Platform } from './manifest.js';

const ARCH_ALIASES: Readonly<Record<string, string>> = {
  x64: 'amd64',
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  ia32: '386',
  i386: '386',
  x32: '386',
};

/** Normalizes architecture names (Node's `process.arch`, uname) to Go's, and fills default variants. */
export function normalizePlatform(p: Platform): Platform {
  const architecture = ARCH_ALIASES[p.architecture.toLowerCase()] ?? p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase();
  if (architecture === 'arm64' && (variant === undefined || variant === '8')) variant = 'v8';
  if (architecture === 'arm' && variant === undefined) variant = p.architecture === 'armel' ? 'v6' : 'v7';
  if (architecture === 'arm' && variant !== undefined && /^[5-8]$/.test(variant)) variant = `v${variant}`;
  if (architecture === 'amd64' && variant === 'v1') variant = undefined;
  const out: Platform = { os: p.os.toLowerCase(), architecture };
  if (variant !== undefined) out.variant = variant;
  return out;
}

/** The platform of this host: linux and the Go name of `process.arch` (arm variant from Node's build). */
export function defaultPlatform(): Platform {
  const platform: Platform = { os: 'linux', architecture: process.arch };
  if (process.arch === 'arm') {
    const v = (process.config.variables as unknown as Record<string, unknown>).arm_version;
    if (typeof v === 'string' || typeof v === 'number') platform.variant = `v${v}`;
  }
  return normalizePlatform(platform);
}

/** `linux/arm/v7` style text. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== '').join('/');
}

/**
 * How well an image for `have` runs on `want`: 0 = not at all, higher = better. Exported for tests and for
 * callers that check a single-manifest image's config against the host.
 */
export function platformScore(want: Platform, have: Platform): number {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return 0;
  if (w.variant === h.variant) return 100;
  if (w.architecture === 'arm') {
    const wv = Number(w.variant?.slice(1));
    const hv = Number(h.variant?.slice(1));
    if (Number.isInteger(wv) && Number.isInteger(hv) && hv <= wv) return 50 - (wv - hv);
    return 0;
  }
  if (w.architecture === 'amd64') {
    // A baseline host cannot run v2+ images; a v3 host can run anything up to v3.
    const wv = w.variant === undefined ? 1 : Number(w.variant.slice(1));
    const hv = h.variant === undefined ? 1 : Number(h.variant.slice(1));
    if (Number.isInteger(wv) && Number.isInteger(hv) && hv <= wv) return 50 - (wv - hv);
    return 0;
  }
  return 0;
}

/**
 * Picks the manifest of an index that best fits `want` (default: this host). Entries without a platform
 * and attestation manifests (`unknown/unknown`) are skipped. NotFoundError lists what the index offers.
 */
export function selectManifest(index: ImageIndex, want: Platform = defaultPlatform()): Descriptor {
  let best: Descriptor | undefined;
  let bestScore = 0;
  for (const m of index.manifests) {
    if (!m.platform || m.platform.os === 'unknown') continue;
    const score = platformScore(want, m.platform);
    if (score > bestScore) {
      best = m;
      bestScore = score;
    }
  }
  if (best) return best;
  const offered = index.manifests.flatMap((m) => (m.platform ? [formatPlatform(m.platform)] : [])).join(', ');
  throw new NotFoundError(`no image for platform "${formatPlatform(want)}" in index (offers: ${offered || 'none'})`);
}
