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

export type ToMain =
  /** Sent once, when the thread has loaded its code and takes jobs without delay. */
  | { type: 'ready'; id: 0 }
  | { type: 'bytes'; id: number; n: number }
  | { type: 'done'; id: number; result?: ApplyResult; error?: SerializedError; fallback?: boolean };
