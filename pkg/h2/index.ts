/**
 * HTTP/2 for the gRPC edge: the server side of a connection spoken directly on an accepted socket
 * ({@link ServerConnection}), the HPACK codec and the frame constants it is built from.
 */
export { type HeaderField, HpackDecoder, HpackEncoder, field } from './hpack.js';
export { ServerConnection, type ServerConnectionOptions, ServerStream } from './server-connection.js';
