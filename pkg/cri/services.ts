/**
 * The gRPC services ucri serves — runtime.v1 RuntimeService and ImageService (CRI), ucri.v1 Images (the CLI's
 * pull with progress) — as method tables in the shape of grpc-js's ServiceDefinition: per method its path,
 * stream flags and protobuf codecs. They are built from the generic service definitions ts-proto generates
 * (buf.gen.yaml, `outputServices=generic-definitions`), which import nothing but the protobuf wire codec.
 *
 * The daemon's gRPC server (pkg/grpc) takes paths and codecs from these tables; clients (the CLI verbs, tests,
 * the bench) make grpc-js client classes of the same tables in pkg/cri/client.ts. Nothing here loads grpc-js:
 * the daemon never does (~12 MiB of RSS; docs/performance.md, "Idle memory, phase 7").
 */
import { ImageServiceDefinition, RuntimeServiceDefinition } from './gen/cri/v1/api.js';
import { ImagesDefinition } from './gen/ucri/v1/ucri.js';
import { CONTAINER_ITEMS, SANDBOX_ITEMS } from './list-items.js';

/** What a method table needs of a generated message type. */
interface MessageType<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

/** A generic service definition as ts-proto generates it (`outputServices=generic-definitions`). */
interface GenericService {
  readonly fullName: string;
  readonly methods: {
    readonly [key: string]: {
      readonly name: string;
      // biome-ignore lint/suspicious/noExplicitAny: each method has its own message types; MethodOf recovers them
      readonly requestType: MessageType<any>;
      readonly requestStream: boolean;
      // biome-ignore lint/suspicious/noExplicitAny: as requestType
      readonly responseType: MessageType<any>;
      readonly responseStream: boolean;
    };
  };
}

/** One method: the fields of grpc-js's MethodDefinition that the server and the clients use. */
export interface MethodDefinition<Req, Res, RequestStream extends boolean, ResponseStream extends boolean> {
  readonly path: string;
  readonly requestStream: RequestStream;
  readonly responseStream: ResponseStream;
  requestSerialize(value: Req): Buffer;
  requestDeserialize(bytes: Buffer): Req;
  responseSerialize(value: Res): Buffer;
  responseDeserialize(bytes: Buffer): Res;
}

type MessageOf<T> = T extends { decode(input: Uint8Array): infer M } ? M : never;
type MethodOf<M> = M extends {
  readonly requestType: infer Q;
  readonly requestStream: infer QS extends boolean;
  readonly responseType: infer S;
  readonly responseStream: infer SS extends boolean;
}
  ? MethodDefinition<MessageOf<Q>, MessageOf<S>, QS, SS>
  : never;

/** The method table of a generic service definition, keyed by the method's lowerCamel name (`runPodSandbox`). */
export type ServiceTable<D extends GenericService> = { readonly [K in keyof D['methods']]: MethodOf<D['methods'][K]> };

/**
 * The encoded bytes as a Buffer without a copy: the writer's `finish()` returns a new array of its own each
 * time, which nothing else holds.
 */
function encode<T>(type: MessageType<T>, value: T): Buffer {
  const bytes = type.encode(value).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Makes the method table of `def`: paths `/<package>.<Service>/<Method>`, codecs from its message types;
 * `responseEncoders` replaces the response encoder of the methods it names (the same bytes, made otherwise).
 */
export function serviceTable<D extends GenericService>(
  def: D,
  responseEncoders: {
    readonly [K in keyof D['methods']]?: (value: MessageOf<D['methods'][K]['responseType']>) => Buffer;
  } = {},
): ServiceTable<D> {
  const table: Record<string, MethodDefinition<unknown, unknown, boolean, boolean>> = {};
  for (const [key, m] of Object.entries(def.methods)) {
    const req = m.requestType as MessageType<unknown>;
    const res = m.responseType as MessageType<unknown>;
    const encodeResponse = (responseEncoders as Record<string, ((value: unknown) => Buffer) | undefined>)[key];
    table[key] = Object.freeze({
      path: `/${def.fullName}/${m.name}`,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      requestSerialize: (value: unknown) => encode(req, value),
      requestDeserialize: (bytes: Buffer) => req.decode(bytes),
      responseSerialize: encodeResponse ?? ((value: unknown) => encode(res, value)),
      responseDeserialize: (bytes: Buffer) => res.decode(bytes),
    });
  }
  return Object.freeze(table) as ServiceTable<D>;
}

/**
 * runtime.v1 RuntimeService. ListContainers and ListPodSandbox answers are encoded from their items' bytes,
 * kept per record version (list-items.ts).
 */
export const RuntimeServiceService = serviceTable(RuntimeServiceDefinition, {
  listContainers: (res) => CONTAINER_ITEMS.encodeList(res.containers),
  listPodSandbox: (res) => SANDBOX_ITEMS.encodeList(res.items),
});
export type RuntimeServiceService = typeof RuntimeServiceService;
/** runtime.v1 ImageService. */
export const ImageServiceService = serviceTable(ImageServiceDefinition);
export type ImageServiceService = typeof ImageServiceService;
/** ucri.v1 Images (api/ucri/v1/ucri.proto). */
export const ImagesService = serviceTable(ImagesDefinition);
export type ImagesService = typeof ImagesService;
