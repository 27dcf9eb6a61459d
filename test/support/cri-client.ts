/**
 * ucri's own CRI client for tests and the bench: grpc-js clients of the CRI services (pkg/cri/client.ts) with
 * promise wrappers, dialled over the daemon's unix socket exactly as a CRI client would.
 */
import { grpc, ImageServiceClient, RuntimeServiceClient } from '../../pkg/cri/client.js';
import type { ImageServiceService, RuntimeServiceService } from '../../pkg/cri/services.js';

export * from '../../pkg/cri/gen/cri/v1/api.js';

type Callback<Res> = (err: grpc.ServiceError | null, res: Res) => void;
type UnaryMethod = (req: unknown, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: Callback<unknown>) => unknown;

/** A promise-returning view of a service's unary methods: `await client.version({ version: 'v1' })`. */
export type Promised<S> = {
  [K in keyof S as S[K] extends { responseStream: false } ? K : never]: S[K] extends {
    requestSerialize(value: infer Req): Buffer;
    responseDeserialize(value: Buffer): infer Res;
  }
    ? (req: Req, opts?: { timeoutMs?: number }) => Promise<Res>
    : never;
};

function promised<S>(client: grpc.Client): Promised<S> {
  return new Proxy({} as Promised<S>, {
    get(_t, prop: string) {
      const fn = (client as unknown as Record<string, unknown>)[prop];
      if (typeof fn !== 'function') return undefined;
      return (req: unknown, opts?: { timeoutMs?: number }) =>
        new Promise((resolve, reject) => {
          const deadline = Date.now() + (opts?.timeoutMs ?? 60_000);
          (fn as UnaryMethod).call(client, req, new grpc.Metadata(), { deadline }, (err, res) =>
            err ? reject(err) : resolve(res),
          );
        });
    },
  });
}

export interface CriClient {
  runtime: Promised<typeof RuntimeServiceService>;
  image: Promised<typeof ImageServiceService>;
  /** The raw generated clients, for streaming calls. */
  rawRuntime: RuntimeServiceClient;
  rawImage: ImageServiceClient;
  close(): void;
}

/** Connects to a CRI socket. */
export function criClient(socketPath: string): CriClient {
  const target = `unix://${socketPath}`;
  const options = { 'grpc.max_receive_message_length': 16 * 1024 * 1024 };
  const rawRuntime = new RuntimeServiceClient(target, grpc.credentials.createInsecure(), options);
  const rawImage = new ImageServiceClient(target, grpc.credentials.createInsecure(), options);
  return {
    runtime: promised<typeof RuntimeServiceService>(rawRuntime),
    image: promised<typeof ImageServiceService>(rawImage),
    rawRuntime,
    rawImage,
    close() {
      rawRuntime.close();
      rawImage.close();
    },
  };
}

/** The gRPC status code of a failed call (undefined when it did not fail with a status). */
export function statusOf(err: unknown): grpc.status | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? (err as grpc.ServiceError).code : undefined;
}

export { grpc };
