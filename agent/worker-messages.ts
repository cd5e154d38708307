// What the main thread and the agent worker say to each other (never leaves the process).
import type { MessagePort } from 'node:worker_threads';
import type { AgentConfig } from './config.js';
import type { BlockEvent, Frame, Message } from '../shared/protocol.js';

export interface WorkerInit {
  /** Marks the worker so the preload, which NODE_OPTIONS also runs in it, stays off. */
  loopscopeAgentWorker: true;
  i32: Int32Array;
  f64: Float64Array;
  config: AgentConfig;
  run: string;
  /** Names for the syncApi slot of the shared state (index + 1). */
  syncApis: readonly string[];
  /** Where the agent's own files live, so its frames never count as the app's. */
  agentDir: string;
  /** Warnings for the main thread to print (read synchronously after an exit flush). */
  warnPort: MessagePort;
  /** The recording's path, resolved once by the main thread (null: no recording). */
  recordPath: string | null;
  /** The main thread wrote the hello line to the recording itself: the worker's recorder skips it. */
  helloWritten: boolean;
}

export interface MeasuredBlock {
  startedAt: number;
  durationMs: number;
  syncCall: { api: string; createdAt: Frame | null } | null;
}

export type ToWorker =
  /** `batch`: numbered when records is not empty, for the recording's handover at exit (agent/recording-file.ts). */
  | { kind: 'records'; records: Message[]; batch?: number; flushSeq?: number }
  | { kind: 'blockMeasured'; block: MeasuredBlock };

export type FromWorker = { kind: 'warning'; message: string } | { kind: 'otelBlock'; block: BlockEvent };

/** globalThis[Symbol.for(CAPTURE_KEY)] is the function the worker evaluates on the blocked main thread. */
export const CAPTURE_KEY = 'loopscope.capture';

/** What that function returns, as JSON text (Runtime.evaluate hands back a string cheaply). */
export interface CaptureResult {
  stack: string;
  resource: { type: string; createdAt: Frame | null } | null;
  /** The app's active OpenTelemetry span on the blocked thread, if the app uses @opentelemetry/api. */
  appSpan: { traceId: string; spanId: string } | null;
}
