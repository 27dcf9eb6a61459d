/**
 * A layer blob the layer worker can fetch itself: the registry client resolved the endpoint and the
 * Authorization it would send, so the worker needs no token cache, challenge handling or mirror logic.
 * Anything but a 200 (an expired token's 401, a mirror's 404, a refused connection) is not handled in the
 * worker: it answers "fallback" before writing anything and the caller takes the ordinary path.
 */
export interface RemoteBlob {
  url: string;
  /** Sent only to the URL's own origin, never across a redirect to another host. */
  authorization?: string;
  userAgent: string;
  /** Expected digest and size of the compressed blob; verified while it streams. */
  digest: string;
  size?: number;
  /** Names the blob in errors, as the registry client does. */
  what: string;
}
