/** The streaming server of `ucri serve`, from its configuration keys. */
import { readFile } from 'node:fs/promises';
import { StreamingServer } from '../../pkg/cri/streaming/index.js';
import type { Config } from './config.js';

/**
 * Starts the streaming server on `streaming_address`:`streaming_port` (127.0.0.1 and a free port by
 * default: kubelet only ever uses the URLs the verbs return, so no fixed port is needed), over HTTPS when a
 * certificate and key are configured.
 */
export async function startStreaming(config: Config): Promise<StreamingServer> {
  const host = config.streaming_address.includes(':') ? `[${config.streaming_address}]` : config.streaming_address;
  const tls =
    config.streaming_tls_cert && config.streaming_tls_key
      ? { cert: await readFile(config.streaming_tls_cert), key: await readFile(config.streaming_tls_key) }
      : undefined;
  return StreamingServer.start({
    address: `${host}:${config.streaming_port}`,
    tls,
    idleTimeoutMs: config.stream_idle_timeout,
    creationTimeoutMs: config.stream_creation_timeout,
  });
}
