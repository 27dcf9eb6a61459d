/**
 * HTTP/2 helpers of the gRPC edge. The public face is {@link fixAuthority}; the HPACK codec is exported for
 * tests and for anyone who needs to look into header blocks.
 */
import type { Duplex } from 'node:stream';
import { AuthorityFixStream, type FixAuthorityOptions } from './authority-fix.js';

export { AuthorityFixStream, type FixAuthorityOptions, isValidAuthority } from './authority-fix.js';
export { type HeaderField, HpackDecoder, HpackEncoder, field } from './hpack.js';
export { type ServeConnectionOptions, serveConnection } from './sniff.js';

/**
 * Wraps one accepted client connection so that grpc-js (nghttp2) accepts requests whose `:authority` is a
 * unix socket path, as sent by grpc-go clients before the Kubernetes 1.31 era (crictl 1.26, old kubelets).
 *
 * Use: `net.createServer((sock) => injector.injectConnection(fixAuthority(sock)))` with
 * `injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure())`. Node's HTTP/2
 * server runs any Duplex (it wraps non-native streams in its JS stream adapter), so nothing socket-specific
 * is needed; a unix socket has no peer address to lose.
 *
 * The returned stream owns `socket`: destroying one destroys the other. Malformed HTTP/2 from the client
 * destroys both.
 */
export function fixAuthority(socket: Duplex, options?: Partial<FixAuthorityOptions>): AuthorityFixStream {
  return new AuthorityFixStream(socket, options);
}
