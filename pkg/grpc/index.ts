/**
 * ucri's gRPC server over its own HTTP/2 (server.ts, pkg/h2): unary and server-streaming methods, deadlines,
 * cancellation, message limits and status trailers, without grpc-js. Used by the CRI edge (pkg/cri/server.ts).
 */
export {
  GrpcServer,
  type GrpcServerOptions,
  type Method,
  parseTimeout,
  type ServerCall,
  type ServerStreamMethod,
  type UnaryMethod,
} from './server.js';
export { encodeMessage, Status, type StatusCode, StatusError } from './status.js';
