/**
 * pkg/cri/streaming: the streaming server behind CRI Exec, Attach and PortForward (SPDY/3.1 and
 * WebSocket), its single-use request tokens, and the SPDY client ucri's CLI and benchmarks use.
 */
export type { StdioRequest, StreamRequest } from './requests.js';
export { RequestCache } from './requests.js';
export { parseAddress, StreamingServer, type StreamingOptions, type StreamUrls } from './server.js';
export { SpdyConnection, SpdyStream } from './spdy/connection.js';
export {
  dialSpdy,
  exitCodeOf,
  openStream,
  type RemoteCommandIo,
  runRemoteCommandSpdy,
} from './spdy-client.js';
