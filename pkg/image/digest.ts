/**
 * Content digests. Only sha256 is accepted: it is what Docker and OCI registries use, and refusing the rest
 * keeps one code path that is always verified.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { FailedPreconditionError, InvalidArgumentError } from '../util/index.js';

const SHA256 = /^sha256:[a-f0-9]{64}$/;

/** True for a well-formed `sha256:<64 lowercase hex>`. */
export function isDigest(s: string): boolean {
  return SHA256.test(s);
}

/** Validates a digest string and returns it; InvalidArgumentError otherwise (other algorithms included). */
export function parseDigest(s: string): string {
  if (SHA256.test(s)) return s;
  const algo = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):/.exec(s)?.[1];
  if (algo !== undefined && algo !== 'sha256') {
    throw new InvalidArgumentError(`unsupported digest algorithm "${algo}" in "${s}"`);
  }
  throw new InvalidArgumentError(`invalid digest "${s}"`);
}

/** The sha256 digest of some bytes, as `sha256:<hex>`. */
export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The 64 hex characters of a digest, for content-addressed file names. */
export function digestHex(digest: string): string {
  return parseDigest(digest).slice('sha256:'.length);
}

/**
 * Content did not match its descriptor (wrong digest, or more or fewer bytes than announced). Callers that
 * retry from another source recognize it by class or by `code === 'DIGEST_MISMATCH'`.
 */
export class DigestMismatchError extends FailedPreconditionError {
  readonly code = 'DIGEST_MISMATCH';
  constructor(
    readonly what: string,
    readonly expected: { digest?: string; size?: number },
    /** `digest` is absent when the content was cut short for exceeding the expected size. */
    readonly actual: { digest?: string; size: number },
  ) {
    const parts: string[] = [];
    if (actual.digest !== undefined && expected.digest !== undefined && expected.digest !== actual.digest) {
      parts.push(`digest ${actual.digest}, expected ${expected.digest}`);
    }
    if (expected.size !== undefined && expected.size !== actual.size) {
      const got = actual.digest === undefined ? `more than ${expected.size}` : String(actual.size);
      parts.push(`size ${got} bytes, expected ${expected.size}`);
    }
    super(`content of "${what}" does not match its descriptor: ${parts.join('; ')}`);
  }
}

/** What a DigestVerifier measured once its input ended. */
export interface DigestResult {
  digest: string;
  size: number;
}

/**
 * A pass-through stream that hashes and counts what flows through it. With an expected digest and/or size it
 * fails with DigestMismatchError: as soon as the size is exceeded (so an endless body is cut short), and at
 * the end when the digest or size differ, before the final chunk is reported as ended. Without expectations
 * it only measures; read `result` after 'end'.
 */
export class DigestVerifier extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private count = 0;
  private measured: DigestResult | undefined;

  constructor(
    private readonly what: string,
    private readonly expected: { digest?: string; size?: number } = {},
  ) {
    super();
    if (expected.digest !== undefined) parseDigest(expected.digest);
  }

  /** Digest and size of everything that passed; undefined until the stream has been flushed. */
  get result(): DigestResult | undefined {
    return this.measured;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.count += chunk.length;
    const limit = this.expected.size;
    if (limit !== undefined && this.count > limit) {
      cb(new DigestMismatchError(this.what, this.expected, { size: this.count }));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const actual = { digest: `sha256:${this.hash.digest('hex')}`, size: this.count };
    this.measured = actual;
    const { digest, size } = this.expected;
    if ((digest !== undefined && digest !== actual.digest) || (size !== undefined && size !== actual.size)) {
      cb(new DigestMismatchError(this.what, this.expected, actual));
      return;
    }
    cb();
  }
}
