/** Messages between the layer worker (worker-main.ts) and its owner (worker.ts). */
import type { ApplyResult, LayerFormat } from './apply.js';
import type { RemoteBlob } from './remote.js';

export type ToWorker =
  | { type: 'apply'; id: number; blob: RemoteBlob; targetDir: string; format: LayerFormat; diffId?: string }
  | { type: 'abort'; id: number; reason: string };

export interface SerializedError {
  kind: string;
  message: string;
  code?: string;
  what?: string;
  expected?: { digest?: string; size?: number };
  actual?: { digest?: string; size: number };
}

/**
 * Where a job's time went, in ms from the moment the worker took it: response headers, first body byte, body
 * verified (digest and size), layer applied (decompressed, diff_id checked, written).
 */
export interface LayerTiming {
  headers: number;
  firstByte: number;
  downloaded: number;
  applied: number;
}

export type ToMain =
  /** Sent once, when the thread has loaded its code and takes jobs without delay. */
  | { type: 'ready'; id: 0 }
  | { type: 'bytes'; id: number; n: number }
  | {
      type: 'done';
      id: number;
      result?: ApplyResult;
      error?: SerializedError;
      fallback?: boolean;
      timing?: LayerTiming;
    };
