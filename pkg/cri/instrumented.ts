/**
 * The one wrapper around every CRI RPC. It checks readiness, validates the request with its zod schema,
 * turns the call's deadline and cancellation into an AbortSignal, logs entry and exit (tracer `cri`), and
 * maps domain errors to gRPC status codes. Nothing else in ucri knows about status codes: handlers throw
 * the error classes of pkg/util and return plain responses. The methods it builds are served by ucri's own
 * gRPC server (pkg/grpc); the method tables of services.ts supply only method paths and codecs.
 */
import { type Method, type ServerCall, Status, StatusError } from '../grpc/index.js';
import type * as z from 'zod/mini';
import {
  addCost,
  CancelledError,
  DeadlineExceededError,
  type ErrorKind,
  InvalidArgumentError,
  type Logger,
  logger,
  UcriError,
  UnavailableError,
  UnimplementedError,
  withCostScope,
} from '../util/index.js';

/** What every handler receives besides its request. */
export interface CallContext {
  /** Aborted when the client's deadline passes or the client cancels. */
  signal: AbortSignal;
  /** The RPC's logger (component `cri`). */
  log: Logger;
  /** The RPC name, e.g. `RunPodSandbox`. */
  rpc: string;
}

export type UnaryHandler<Req, Res> = (req: Req, ctx: CallContext) => Promise<Res>;
export type StreamHandler<Req, Res> = (req: Req, ctx: CallContext, send: (res: Res) => void) => Promise<void>;

/** A method of a table of services.ts (grpc-js's MethodDefinition shape): its path and codecs are what is used. */
interface MethodDef<Req, Res> {
  path: string;
  responseStream: boolean;
  requestDeserialize(b: Buffer): Req;
  responseSerialize(res: Res): Uint8Array;
  responseDeserialize(b: Buffer): Res;
}
type ReqOf<D> = D extends MethodDef<infer Req, unknown> ? Req : never;
type ResOf<D> = D extends MethodDef<unknown, infer Res> ? Res : never;
type HandlerOf<D> = D extends { responseStream: true }
  ? StreamHandler<ReqOf<D>, ResOf<D>>
  : UnaryHandler<ReqOf<D>, ResOf<D>>;

/** Handlers for a service definition: any subset; the rest answer UNIMPLEMENTED. */
export type Handlers<S> = { [K in keyof S]?: HandlerOf<S[K]> };
/** zod schemas per method: what the request must satisfy beyond its protobuf type. */
export type Schemas<S> = { [K in keyof S]?: z.ZodMiniType };

const CODES: Record<ErrorKind, number> = {
  NotFound: Status.NOT_FOUND,
  AlreadyExists: Status.ALREADY_EXISTS,
  InvalidArgument: Status.INVALID_ARGUMENT,
  FailedPrecondition: Status.FAILED_PRECONDITION,
  Unavailable: Status.UNAVAILABLE,
  Internal: Status.INTERNAL,
  Unimplemented: Status.UNIMPLEMENTED,
  DeadlineExceeded: Status.DEADLINE_EXCEEDED,
  Cancelled: Status.CANCELLED,
  ResourceExhausted: Status.RESOURCE_EXHAUSTED,
  PermissionDenied: Status.PERMISSION_DENIED,
  Unauthenticated: Status.UNAUTHENTICATED,
};

/** Methods that answer before the runtime has finished recovering. */
const ALWAYS_READY = new Set(['Version', 'Status', 'RuntimeConfig']);

export interface InstrumentOptions {
  /** False until recovery has finished; other RPCs then answer UNAVAILABLE. */
  ready: () => boolean;
  /** Called once per finished call with its gRPC status code (0: OK) and duration (the daemon's metrics). */
  observe?: (rpc: string, code: number, seconds: number) => void;
}

const log = logger('cri');

function rpcName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** `metadata.name: Too small` style message from a zod error, naming the field. */
function validationMessage(rpc: string, err: z.core.$ZodError): string {
  const parts = err.issues.map((i) => {
    const field = i.path
      .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
      .join('.')
      .replaceAll('.[', '[');
    return field ? `${field}: ${i.message}` : i.message;
  });
  return `invalid ${rpc} request: ${parts.join('; ')}`;
}

/** Maps any thrown value to a gRPC status, logging unexpected ones. */
function toStatus(rpc: string, err: unknown, signal: AbortSignal | undefined): StatusError {
  let e = err;
  if (!(e instanceof UcriError) && signal?.aborted && signal.reason instanceof UcriError) e = signal.reason;
  const code = e instanceof UcriError ? CODES[e.kind] : Status.INTERNAL;
  const message = e instanceof Error ? e.message : String(e);
  if (code === Status.INTERNAL) log.error({ rpc, err: e }, 'internal error');
  return new StatusError(code, message);
}

/** How close to its deadline a cancellation counts as the deadline's (timer clock skew, see CallSignal). */
const DEADLINE_SLACK_MS = 5;

/**
 * The deadline and cancellation of a call as an AbortSignal, made only when a handler asks for it: most
 * calls (status, list) never do, and an AbortController, its abort event and the server's close listener
 * cost more than their handlers. Until then nothing is registered: a call cancelled before the handler asks
 * is seen in the call's `cancelled` flag. The server tells cancellations only until the call has answered.
 */
class CallSignal {
  #ac: AbortController | undefined;
  readonly #call: ServerCall;

  constructor(call: ServerCall) {
    this.#call = call;
  }

  /**
   * A client that gives up at its deadline resets the stream, which may reach us a moment before our own
   * deadline timer fires (or clock skew): a reset that close to the deadline counts as the deadline's.
   */
  #cancelReason(why: 'deadline' | 'cancelled'): CancelledError | DeadlineExceededError {
    return why === 'deadline' || Date.now() + DEADLINE_SLACK_MS >= this.#call.deadline
      ? new DeadlineExceededError('deadline exceeded')
      : new CancelledError('cancelled by the client');
  }

  /** The call's signal: aborted with CancelledError or DeadlineExceededError. */
  get signal(): AbortSignal {
    if (this.#ac) return this.#ac.signal;
    const ac = new AbortController();
    this.#ac = ac;
    if (this.#call.cancelled) {
      ac.abort(this.#cancelReason('cancelled'));
      return ac.signal;
    }
    this.#call.onCancel((why) => {
      if (!ac.signal.aborted) ac.abort(this.#cancelReason(why));
    });
    return ac.signal;
  }

  /** The signal if a handler took it (for mapping an error to the abort's reason). */
  get taken(): AbortSignal | undefined {
    return this.#ac?.signal;
  }
}

/** A CallContext whose `signal` is made on first use (a class: its getter lives on the prototype). */
class LazyCallContext implements CallContext {
  readonly log = log;
  constructor(
    private readonly cs: CallSignal,
    readonly rpc: string,
  ) {}

  get signal(): AbortSignal {
    return this.cs.signal;
  }
}

/**
 * Builds the methods of a whole service for ucri's gRPC server, keyed by path: every method of `definition`
 * is registered, with the given handler or an UNIMPLEMENTED answer naming the RPC.
 */
export function instrumentService<S extends Record<string, MethodDef<unknown, unknown>>>(
  definition: S,
  handlers: Handlers<S>,
  schemas: Schemas<S>,
  opts: InstrumentOptions,
): Map<string, Method> {
  const methods = new Map<string, Method>();
  for (const key of Object.keys(definition) as Array<keyof S & string>) {
    const def = definition[key]!;
    const rpc = rpcName(def.path);
    const handler = handlers[key] as
      | ((req: unknown, ctx: CallContext, send?: (res: unknown) => void) => Promise<unknown>)
      | undefined;
    const schema = schemas[key];
    const run = async (req: unknown, ctx: CallContext, send?: (res: unknown) => void): Promise<unknown> => {
      if (!handler) throw new UnimplementedError(`${rpc} is not implemented by ucri yet`);
      if (!ALWAYS_READY.has(rpc) && !opts.ready()) throw new UnavailableError('ucri is starting up; try again');
      if (schema) {
        const parsed = schema.safeParse(req);
        if (!parsed.success) throw new InvalidArgumentError(validationMessage(rpc, parsed.error));
      }
      return withCostScope(rpc, () => handler(req, ctx, send));
    };
    const decode = (b: Buffer): unknown => def.requestDeserialize(b);
    const encode = (res: unknown): Uint8Array => def.responseSerialize(res);
    if (def.responseStream) {
      methods.set(def.path, {
        kind: 'server-stream',
        decode,
        encode,
        handle: async (req, call, send) => {
          const cs = new CallSignal(call);
          const started = process.hrtime.bigint();
          log.debug({ rpc }, 'stream start');
          try {
            await run(req, new LazyCallContext(cs, rpc), send);
          } catch (err) {
            const st = toStatus(rpc, err, cs.taken);
            log.debug({ rpc, ms: msSince(started), code: st.code, msg: st.message }, 'stream failed');
            opts.observe?.(rpc, st.code, msSince(started) / 1000);
            throw st;
          }
          log.debug({ rpc, ms: msSince(started) }, 'stream end');
          opts.observe?.(rpc, Status.OK, msSince(started) / 1000);
        },
      });
    } else {
      methods.set(def.path, {
        kind: 'unary',
        decode,
        encode,
        handle: async (req, call) => {
          const cs = new CallSignal(call);
          const started = process.hrtime.bigint();
          if (log.isLevelEnabled('debug')) log.debug({ rpc, req }, 'call');
          let res: unknown;
          try {
            res = await run(req, new LazyCallContext(cs, rpc));
          } catch (err) {
            const ms = msSince(started);
            const st = toStatus(rpc, err, cs.taken);
            log.debug({ rpc, ms, code: st.code, msg: st.message }, 'failed');
            opts.observe?.(rpc, st.code, ms / 1000);
            throw st;
          }
          const ms = msSince(started);
          addCost('rpc total', ms, rpc);
          if (log.isLevelEnabled('debug')) log.debug({ rpc, ms }, 'ok');
          opts.observe?.(rpc, Status.OK, ms / 1000);
          return res;
        },
      });
    }
  }
  return methods;
}

function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}
