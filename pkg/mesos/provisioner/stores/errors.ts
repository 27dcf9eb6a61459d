/**
 * How store failures surface: the classes the ImageManager contract promises (pkg/containerizer/images.ts).
 * pkg/image reports a digest mismatch as FailedPrecondition and unsupported media types as Unimplemented;
 * for a pull both mean the content cannot be stored, which the contract calls Internal. A full disk is
 * ResourceExhausted so kubelet's image GC can react.
 */
import { DigestMismatchError } from '../../../image/index.js';
import {
  errorMessage,
  InternalError,
  ResourceExhaustedError,
  UcriError,
  UnimplementedError,
} from '../../../util/index.js';

/** True for the errno codes of a full disk or quota. */
export function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Maps an error of a pull step to the contract's classes; `what` names the image or layer. */
export function pullError(err: unknown, what: string): unknown {
  if (isNoSpace(err) || isNoSpace((err as { cause?: unknown } | undefined)?.cause)) {
    return new ResourceExhaustedError(`no space left to store ${what}`, { cause: err });
  }
  if (err instanceof DigestMismatchError) return new InternalError(`pulling ${what}: ${err.message}`, { cause: err });
  if (err instanceof UnimplementedError) return new InternalError(`pulling ${what}: ${err.message}`, { cause: err });
  if (err instanceof UcriError) return err;
  return new InternalError(`pulling ${what}: ${errorMessage(err)}`, { cause: err });
}
