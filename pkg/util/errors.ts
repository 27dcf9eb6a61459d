/**
 * The closed set of domain errors. Every layer below pkg/cri throws only these (or lets a plain Error
 * escape, which the gRPC edge reports as INTERNAL). The edge maps each class to exactly one gRPC status in
 * one place (pkg/cri/instrumented.ts); nothing else imports status codes.
 *
 * Messages are lowercase and quote ids: `container "abc" not found`. Context goes in `{ cause }`.
 */
export type ErrorKind =
  | 'NotFound'
  | 'AlreadyExists'
  | 'InvalidArgument'
  | 'FailedPrecondition'
  | 'Unavailable'
  | 'Internal'
  | 'Unimplemented'
  | 'DeadlineExceeded'
  | 'Cancelled'
  | 'ResourceExhausted'
  | 'PermissionDenied'
  | 'Unauthenticated';

export abstract class UcriError extends Error {
  abstract readonly kind: ErrorKind;
}

function kindClass<K extends ErrorKind>(kind: K) {
  return class extends UcriError {
    readonly kind: K = kind;
    constructor(message: string, options?: { cause?: unknown }) {
      super(message, options);
      this.name = `${kind}Error`;
    }
  };
}

export class NotFoundError extends kindClass('NotFound') {}
export class AlreadyExistsError extends kindClass('AlreadyExists') {}
export class InvalidArgumentError extends kindClass('InvalidArgument') {}
export class FailedPreconditionError extends kindClass('FailedPrecondition') {}
export class UnavailableError extends kindClass('Unavailable') {}
export class InternalError extends kindClass('Internal') {}
export class UnimplementedError extends kindClass('Unimplemented') {}
export class DeadlineExceededError extends kindClass('DeadlineExceeded') {}
export class CancelledError extends kindClass('Cancelled') {}
export class ResourceExhaustedError extends kindClass('ResourceExhausted') {}
export class PermissionDeniedError extends kindClass('PermissionDenied') {}
export class UnauthenticatedError extends kindClass('Unauthenticated') {}

const CLASSES: Record<ErrorKind, new (message: string, options?: { cause?: unknown }) => UcriError> = {
  NotFound: NotFoundError,
  AlreadyExists: AlreadyExistsError,
  InvalidArgument: InvalidArgumentError,
  FailedPrecondition: FailedPreconditionError,
  Unavailable: UnavailableError,
  Internal: InternalError,
  Unimplemented: UnimplementedError,
  DeadlineExceeded: DeadlineExceededError,
  Cancelled: CancelledError,
  ResourceExhausted: ResourceExhaustedError,
  PermissionDenied: PermissionDeniedError,
  Unauthenticated: UnauthenticatedError,
};

/**
 * The domain error of `kind` with `message` (an error rebuilt from its kind, e.g. one a worker thread sent);
 * undefined when `kind` names none.
 */
export function errorOfKind(kind: string, message: string): UcriError | undefined {
  const Class = Object.hasOwn(CLASSES, kind) ? CLASSES[kind as ErrorKind] : undefined;
  return Class ? new Class(message) : undefined;
}

/** True when `err` is a domain error of the given kind. */
export function isKind(err: unknown, kind: ErrorKind): boolean {
  return err instanceof UcriError && err.kind === kind;
}

/** Message of any thrown value, for logs and wrapped errors. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Turns an abort (deadline or cancellation) into the matching domain error; returns other errors unchanged.
 * Use where an AbortSignal reached a blocking call and its rejection should not surface as INTERNAL.
 */
export function fromAbort(err: unknown, signal?: AbortSignal): unknown {
  if (err instanceof UcriError) return err;
  if (signal?.aborted) {
    const reason: unknown = signal.reason;
    if (reason instanceof UcriError) return reason;
    if (reason instanceof Error && reason.name === 'TimeoutError') {
      return new DeadlineExceededError('deadline exceeded', { cause: err });
    }
    return new CancelledError('request cancelled', { cause: err });
  }
  return err;
}
