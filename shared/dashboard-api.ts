// The dashboard's two WebSocket endpoints and its REST API. Agents speak /ingest, browsers /live;
// both carry the protocol's messages unchanged, wrapped in the small envelopes defined here.
import { z } from 'zod';
import { messageSchema, shutdownOutcomeSchema } from './protocol.js';
import type { RunPhase } from './run-state.js';

/** agent -> dashboard, one frame: a batch of one run's messages with a sequence number. */
export const ingestFrameSchema = z.object({
  /** Increases by one per batch for the run; the server acks it once stored, a resend reuses it. */
  seq: z.number().int().nonnegative(),
  messages: z.array(messageSchema).max(10_000),
});
export type IngestFrame = z.infer<typeof ingestFrameSchema>;

/** dashboard -> agent */
export type IngestReply = { kind: 'ack'; seq: number } | { kind: 'error'; reason: string };

export { CLOSE, INGEST_PATH, LIVE_PATH, MAX_FRAME_BYTES, WRITE_HEADER } from './dashboard-constants.js';

export interface RunSummary {
  run: string;
  app: string;
  pid: number | null;
  hostname: string | null;
  nodeVersion: string | null;
  parentRun: string | null;
  /** Where it came from: a live agent, or a recording opened in the dashboard. */
  source: 'live' | 'recording';
  connected: boolean;
  phase: RunPhase;
  startedAt: number | null;
  lastTs: number;
  blockCount: number;
  /** Of the last shutdown, when there was one. */
  outcome: z.infer<typeof shutdownOutcomeSchema> | null;
  exitCode: number | null;
  exitSignal: string | null;
}

/** dashboard -> browser on /live */
export type LiveEvent =
  | { kind: 'runs'; runs: RunSummary[] }
  | { kind: 'run'; run: RunSummary }
  | { kind: 'message'; message: z.infer<typeof messageSchema> };

/**
 * REST:
 *   GET  /api/runs                -> { runs: RunSummary[] }
 *   GET  /api/runs/:run           -> RunState (shared/run-state.ts), 404 when unknown
 *   POST /api/recordings          -> body: NDJSON of a recording; { runs: string[], skipped: number }
 */
export const API = {
  runs: '/api/runs',
  run: (run: string) => `/api/runs/${encodeURIComponent(run)}`,
  recordings: '/api/recordings',
} as const;
