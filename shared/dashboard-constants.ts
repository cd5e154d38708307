// The dashboard's wire constants, apart from the zod schemas of dashboard-api.ts: the agent's
// transport needs only these, and loading zod in the agent worker costs ~130 ms at start.
/** WebSocket close codes the dashboard uses on /ingest and /live (4000-4999 are free for apps). */
export const CLOSE = {
  malformed: 4000,
  unauthorized: 4001,
  unsupportedProtocol: 4002,
  forbiddenOrigin: 4003,
  /** The dashboard could not write a batch: not acked, to be resent on the next connection. */
  storageFailed: 4004,
  /** ws itself closes with 1009 when a frame exceeds maxPayload */
  tooBig: 1009,
} as const;

export const INGEST_PATH = '/ingest';
export const LIVE_PATH = '/live';
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

/**
 * A header (any value, e.g. `X-Loopscope: 1`) that makes an HTTP request that changes the
 * dashboard acceptable without a non-simple content type: a page on another site can only send it
 * after a CORS preflight, which the dashboard never approves. Lowercase, as Node gives headers.
 */
export const WRITE_HEADER = 'x-loopscope';
