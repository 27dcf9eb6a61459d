/**
 * A minimal Distribution API client that pushes built images over plain HTTP (the test registry listens on
 * 127.0.0.1 without TLS): HEAD the blob, upload it if missing, then PUT the manifest (children before an
 * index). Low-level calls are public so tests can also push deliberately broken content.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { request } from 'undici';
import {
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  UnauthenticatedError,
  UnavailableError,
} from '../../pkg/util/index.js';
import type { BlobStore } from './blob-store.js';
import {
  type BuiltImage,
  type BuiltIndex,
  imageManifest,
  indexManifest,
  type ManifestBlob,
  type ManifestFormat,
} from './image.js';

/** How blobs are uploaded: POST then PUT with the body (default), a single POST, or PATCH chunks then PUT. */
export type UploadMode = 'post-put' | 'monolithic' | 'chunked';

/** Where and how to push. */
export interface RegistryClientOptions {
  /** `host:port` or `http://host:port`. */
  registry: string;
  auth?: { username: string; password: string };
  upload?: UploadMode;
  /** Chunk size of the `chunked` mode (default 1 MiB). */
  chunkSize?: number;
}

/** The result of a push. */
export interface PushResult {
  /** `host:port/repository:tag`, as a pull would name it. */
  reference: string;
  repository: string;
  tag: string;
  manifestDigest: string;
  mediaType: string;
  /** For an index: the pushed child manifests, in the order of the index. */
  children: ManifestBlob[];
}

const REPOSITORY_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;

type Body = string | Buffer | Readable | null;

/** A Distribution API client for one registry. */
export class RegistryClient {
  readonly base: URL;
  /** `host:port`, the prefix of pullable references. */
  readonly host: string;
  private readonly authHeader: string | undefined;

  constructor(
    private readonly store: BlobStore,
    private readonly opts: RegistryClientOptions,
  ) {
    const withScheme = /^[a-z]+:\/\//.test(opts.registry) ? opts.registry : `http://${opts.registry}`;
    this.base = new URL(withScheme);
    if (this.base.protocol !== 'http:')
      throw new InvalidArgumentError(`registry "${opts.registry}" must be plain http`);
    this.host = this.base.host;
    this.authHeader = opts.auth
      ? `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}`
      : undefined;
  }

  /** Pushes an image or index as `repository:tag` in `format`; blobs already present are skipped. */
  async push(
    built: BuiltImage | BuiltIndex,
    repository: string,
    tag: string,
    format: ManifestFormat,
    signal?: AbortSignal,
  ): Promise<PushResult> {
    checkName(repository, tag);
    if (built.kind === 'image') {
      await this.pushBlobs(repository, built, signal);
      const m = await imageManifest(this.store, built, format);
      await this.putManifest(repository, tag, m, signal);
      return { reference: `${this.host}/${repository}:${tag}`, repository, tag, ...digestOf(m), children: [] };
    }
    const { index, children } = await indexManifest(this.store, built, format);
    for (const [i, image] of built.images.entries()) {
      await this.pushBlobs(repository, image, signal);
      const child = children[i];
      if (child) await this.putManifest(repository, child.digest, child, signal);
    }
    await this.putManifest(repository, tag, index, signal);
    return { reference: `${this.host}/${repository}:${tag}`, repository, tag, ...digestOf(index), children };
  }

  /** Uploads the config and layers of one image. */
  async pushBlobs(repository: string, image: BuiltImage, signal?: AbortSignal): Promise<void> {
    for (const d of [image.configBlob, ...image.layers]) {
      if (!(await this.hasBlob(repository, d.digest, signal))) await this.putBlob(repository, d.digest, d.size, signal);
    }
  }

  /** True when the registry has the blob in `repository` (HEAD). */
  async hasBlob(repository: string, digest: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.call('HEAD', `/v2/${repository}/blobs/${digest}`, {}, null, signal);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw this.failure('HEAD blob', digest, res);
  }

  /** Uploads one blob of the store (its bytes are read from the store by digest). */
  async putBlob(repository: string, digest: string, size: number, signal?: AbortSignal): Promise<void> {
    const file = this.store.path('blob', digest);
    const mode = this.opts.upload ?? 'post-put';
    const uploads = `/v2/${repository}/blobs/uploads/`;
    const lengthHeaders = { 'content-type': 'application/octet-stream', 'content-length': String(size) };
    let res: Reply;
    if (mode === 'monolithic') {
      res = await this.call('POST', `${uploads}?digest=${digest}`, lengthHeaders, createReadStream(file), signal);
      if (res.status === 201) return;
    } else {
      res = await this.call('POST', uploads, { 'content-length': '0' }, null, signal);
    }
    if (res.status !== 202) throw this.failure('start upload', digest, res);
    let location = this.location(res);
    if (mode === 'chunked') {
      const chunk = this.opts.chunkSize ?? 1 << 20;
      for (let start = 0; start < size; start += chunk) {
        const end = Math.min(size, start + chunk) - 1;
        const headers = {
          'content-type': 'application/octet-stream',
          'content-length': String(end - start + 1),
          'content-range': `${start}-${end}`,
        };
        res = await this.call('PATCH', location, headers, createReadStream(file, { start, end }), signal);
        if (res.status !== 202) throw this.failure('upload chunk', digest, res);
        location = this.location(res);
      }
      res = await this.call('PUT', withDigest(location, digest), { 'content-length': '0' }, null, signal);
    } else {
      res = await this.call('PUT', withDigest(location, digest), lengthHeaders, createReadStream(file), signal);
    }
    if (res.status !== 201) throw this.failure('finish upload', digest, res);
  }

  /** PUTs a manifest under a tag or digest and checks the digest the registry computed. */
  async putManifest(repository: string, reference: string, m: ManifestBlob, signal?: AbortSignal): Promise<void> {
    const headers = { 'content-type': m.mediaType, 'content-length': String(m.bytes.byteLength) };
    const res = await this.call('PUT', `/v2/${repository}/manifests/${reference}`, headers, m.bytes, signal);
    if (res.status !== 201) throw this.failure('put manifest', `${repository}:${reference}`, res);
    const got = res.headers['docker-content-digest'];
    if (got !== undefined && got !== m.digest) {
      throw new InternalError(`registry stored manifest "${reference}" as "${String(got)}", expected "${m.digest}"`);
    }
  }

  private location(res: Reply): string {
    const loc = res.headers.location;
    if (typeof loc !== 'string' || loc === '') throw new InternalError('registry upload answer has no location');
    return new URL(loc, this.base).toString();
  }

  private async call(
    method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH',
    pathOrUrl: string,
    headers: Record<string, string>,
    body: Body,
    signal?: AbortSignal,
  ): Promise<Reply> {
    const url = new URL(pathOrUrl, this.base);
    const all = this.authHeader ? { ...headers, authorization: this.authHeader } : headers;
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, { method, headers: all, body, signal: signal ?? null });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new UnavailableError(`registry "${this.host}" unreachable`, { cause: err });
    }
    const text = method === 'HEAD' ? '' : await res.body.text();
    if (method === 'HEAD') await res.body.dump();
    return { status: res.statusCode, headers: res.headers, text };
  }

  private failure(what: string, subject: string, res: Reply): Error {
    const msg = `registry "${this.host}": ${what} "${subject}" failed with http ${res.status}: ${res.text.slice(0, 300)}`;
    if (res.status === 401) return new UnauthenticatedError(msg);
    if (res.status === 404) return new NotFoundError(msg);
    if (res.status >= 500) return new UnavailableError(msg);
    return new InternalError(msg);
  }
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.toString();
}

function digestOf(m: ManifestBlob): { manifestDigest: string; mediaType: string } {
  return { manifestDigest: m.digest, mediaType: m.mediaType };
}

/** Validates a repository name and tag against the distribution reference grammar. */
export function checkName(repository: string, tag: string): void {
  if (!REPOSITORY_RE.test(repository)) throw new InvalidArgumentError(`invalid repository name "${repository}"`);
  if (!TAG_RE.test(tag)) throw new InvalidArgumentError(`invalid tag "${tag}"`);
}
