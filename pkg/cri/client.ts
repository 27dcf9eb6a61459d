/**
 * grpc-js clients of the services ucri serves, for the programs that talk to a daemon: the CLI verbs
 * (cmd/ucri), the tests and the bench (test/support/cri-client.ts). Each client class is made by grpc-js from
 * the method tables of services.ts, with the same methods and call signatures ts-proto's grpc-js output had:
 * unary `client.version(req, [metadata], [options], callback)`, server streaming `client.streamContainers(req,
 * [metadata], [options])`.
 *
 * The daemon must not import this module (nor pkg/cri's index re-export it): loading grpc-js costs ~12 MiB of
 * RSS (docs/performance.md, "Idle memory, phase 7"). hack/bundle.ts fails the build when grpc-js is reachable
 * from the program's start without a dynamic import.
 */
import * as grpc from '@grpc/grpc-js';
import { ImageServiceService, ImagesService, type MethodDefinition, RuntimeServiceService } from './services.js';

type Callback<Res> = (error: grpc.ServiceError | null, response: Res) => void;

/** A unary method of a client, with grpc-js's three call forms. */
export interface UnaryCall<Req, Res> {
  (request: Req, callback: Callback<Res>): grpc.ClientUnaryCall;
  (request: Req, metadata: grpc.Metadata, callback: Callback<Res>): grpc.ClientUnaryCall;
  (
    request: Req,
    metadata: grpc.Metadata,
    options: Partial<grpc.CallOptions>,
    callback: Callback<Res>,
  ): grpc.ClientUnaryCall;
}

/** A server-streaming method of a client. */
export interface ServerStreamCall<Req, Res> {
  (request: Req, options?: Partial<grpc.CallOptions>): grpc.ClientReadableStream<Res>;
  (request: Req, metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>): grpc.ClientReadableStream<Res>;
}

/** A client of the service whose method table is `S`. */
export type ServiceClient<S> = grpc.Client & {
  readonly [K in keyof S]: S[K] extends MethodDefinition<infer Req, infer Res, false, infer Stream>
    ? Stream extends true
      ? ServerStreamCall<Req, Res>
      : UnaryCall<Req, Res>
    : never;
};

/** The class grpc-js makes for a service: `new RuntimeServiceClient('unix:///run/ucri/ucri.sock', creds)`. */
export type ServiceClientClass<S> = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: Partial<grpc.ClientOptions>,
) => ServiceClient<S>;

function clientClass<S extends object>(table: S, serviceName: string): ServiceClientClass<S> {
  return grpc.makeGenericClientConstructor(
    table as unknown as grpc.ServiceDefinition,
    serviceName,
  ) as unknown as ServiceClientClass<S>;
}

export const RuntimeServiceClient = clientClass(RuntimeServiceService, 'runtime.v1.RuntimeService');
export type RuntimeServiceClient = ServiceClient<typeof RuntimeServiceService>;
export const ImageServiceClient = clientClass(ImageServiceService, 'runtime.v1.ImageService');
export type ImageServiceClient = ServiceClient<typeof ImageServiceService>;
export const ImagesClient = clientClass(ImagesService, 'ucri.v1.Images');
export type ImagesClient = ServiceClient<typeof ImagesService>;

export { grpc };
