// The one definition of what an agent says. A recording is NDJSON of these messages, the
// dashboard ingests them over WebSocket, and `loopscope report` reads them back: every view
// derives from these schemas, so a field added here reaches all three.
import { z } from 'zod';
import { PROTOCOL_VERSION } from './version.js';

export { PROTOCOL_VERSION };

/** One stack frame. `line` and `column` are 1-based, `file` is a path or URL as V8 prints it. */
export const frameSchema = z.object({
  functionName: z.string(),
  file: z.string(),
  line: z.number().int(),
  column: z.number().int(),
});
export type Frame = z.infer<typeof frameSchema>;

const epochMs = z.number().nonnegative();
const durationMs = z.number().nonnegative();

/** Fields every message carries: which run of which process sent it, and when (epoch ms). */
const envelope = {
  run: z.string().min(1).max(64),
  ts: epochMs,
};

export const modeSchema = z.enum(['lite', 'default', 'deep']);
export type Mode = z.infer<typeof modeSchema>;

export const helloSchema = z.object({
  type: z.literal('hello'),
  ...envelope,
  protocol: z.number().int().positive(),
  agentVersion: z.string(),
  /** The app's name: package.json name of the working directory, else the script's basename. */
  app: z.string(),
  pid: z.number().int(),
  ppid: z.number().int(),
  /** Run id of the parent process's agent when it was started by one (NODE_OPTIONS reached it). */
  parentRun: z.string().nullable(),
  hostname: z.string(),
  argv: z.array(z.string()),
  execArgv: z.array(z.string()),
  nodeVersion: z.string(),
  platform: z.string(),
  arch: z.string(),
  /** When the process started (performance.timeOrigin), epoch ms. */
  startedAt: epochMs,
  mode: modeSchema,
  config: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
});
export type Hello = z.infer<typeof helloSchema>;

export const delaySummarySchema = z.object({
  minMs: durationMs,
  meanMs: durationMs,
  p50Ms: durationMs,
  p90Ms: durationMs,
  p99Ms: durationMs,
  maxMs: durationMs,
});
export type DelaySummary = z.infer<typeof delaySummarySchema>;

export const loopSchema = z.object({
  type: z.literal('loop'),
  ...envelope,
  intervalMs: durationMs,
  delay: delaySummarySchema,
  /** Event-loop utilisation over the interval, 0..1. */
  utilization: z.number().min(0).max(1),
});
export type LoopSample = z.infer<typeof loopSchema>;

/** Extra facts that help identify a resource: port, path, pid, interval. */
export const detailsSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

export const liveResourceSchema = z.object({
  /** async id when known (creation tracked), else a negative synthetic id stable for the object. */
  id: z.number().int(),
  type: z.string(),
  /** ms since it was created; null when the agent did not see it being created. */
  ageMs: durationMs.nullable(),
  keepsAlive: z.boolean(),
  createdAt: frameSchema.nullable(),
  stack: z.array(frameSchema).optional(),
  details: detailsSchema.optional(),
});
export type LiveResource = z.infer<typeof liveResourceSchema>;

export const resourcesSchema = z.object({
  type: z.literal('resources'),
  ...envelope,
  /** Live resources that keep the loop alive, by libuv class name (getActiveResourcesInfo). */
  byType: z.record(z.string(), z.number().int().nonnegative()),
  /** Async resources created during the interval, by async_hooks type (absent in lite mode). */
  created: z.record(z.string(), z.number().int().nonnegative()).optional(),
  /** deep mode: promises created and not yet settled. */
  pendingPromises: z.number().int().nonnegative().optional(),
  /** deep mode: callback time by resource type during the interval. */
  callbacks: z
    .record(z.string(), z.object({ count: z.number().int().nonnegative(), totalMs: durationMs, maxMs: durationMs }))
    .optional(),
  /** The oldest live long-lived resources (servers, timers, sockets, child processes...). */
  oldest: z.array(liveResourceSchema),
  /** How many long-lived resources the agent tracks; `oldest` is the head of that list. */
  tracked: z.number().int().nonnegative(),
  /** Creation stacks skipped this interval because the per-second budget was spent. */
  stacksSkipped: z.number().int().nonnegative().optional(),
});
export type ResourcesSample = z.infer<typeof resourcesSchema>;

export const callbackResourceSchema = z.object({
  type: z.string(),
  createdAt: frameSchema.nullable(),
});
export type CallbackResource = z.infer<typeof callbackResourceSchema>;

export const stackKindSchema = z.enum([
  /** captured from the worker while the main thread was still blocked in JS */
  'live',
  /** the block was in native code; the capture only ran once it returned, so no stack is shown */
  'none',
]);

export const blockSchema = z.object({
  type: z.literal('block'),
  ...envelope,
  /** Per-run sequence number; a block is sent when detected (ended=false) and again when it ends. */
  id: z.number().int().nonnegative(),
  startedAt: epochMs,
  /** So far when ended=false, final when ended=true. */
  durationMs,
  ended: z.boolean(),
  /** True when the main thread was inside native code (sync I/O, crypto, JSON.parse of a huge string). */
  native: z.boolean(),
  stackKind: stackKindSchema,
  stack: z.array(frameSchema),
  /** The callback the block ran in: the exact async resource when known, else read from entry frames. */
  resource: callbackResourceSchema.nullable(),
  /** The sync I/O call in progress when the block was detected, if any. */
  syncCall: z.object({ api: z.string(), createdAt: frameSchema.nullable() }).nullable(),
  /** How long the live stack capture took (ms), for the record. */
  captureMs: durationMs.nullable(),
  /** The app's active OpenTelemetry span when the block was captured (links a block to its request). */
  appSpan: z.object({ traceId: z.string(), spanId: z.string() }).nullable().optional(),
});
export type BlockEvent = z.infer<typeof blockSchema>;

export const syncCallSchema = z.object({
  api: z.string(),
  count: z.number().int().positive(),
  totalMs: durationMs,
  maxMs: durationMs,
  createdAt: frameSchema.nullable(),
});
export type SyncCallStat = z.infer<typeof syncCallSchema>;

export const syncioSchema = z.object({
  type: z.literal('syncio'),
  ...envelope,
  /** Calls made since the previous syncio message, grouped by api and caller frame. */
  calls: z.array(syncCallSchema),
});
export type SyncioSample = z.infer<typeof syncioSchema>;

export const shutdownTriggerSchema = z.enum([
  'SIGTERM',
  'SIGINT',
  'SIGHUP',
  'exit',
  'beforeExit',
  'uncaughtException',
  'unhandledRejection',
  'api',
]);
export type ShutdownTrigger = z.infer<typeof shutdownTriggerSchema>;

export const shutdownOutcomeSchema = z.enum(['clean', 'error', 'timeout', 'crash', 'killed']);
export type ShutdownOutcome = z.infer<typeof shutdownOutcomeSchema>;

export const snapshotResourceSchema = liveResourceSchema;

export const shutdownStartSchema = z.object({
  type: z.literal('shutdown.start'),
  ...envelope,
  trigger: shutdownTriggerSchema,
  reason: z.string().nullable(),
  startedAt: epochMs,
  /** Every live resource at the start (bounded; `snapshotTruncated` says how many were left out). */
  resources: z.array(snapshotResourceSchema),
  snapshotTruncated: z.number().int().nonnegative(),
});
export type ShutdownStart = z.infer<typeof shutdownStartSchema>;

export const stepOutcomeSchema = z.enum(['running', 'ok', 'failed', 'timeout']);

export const shutdownStepSchema = z.object({
  type: z.literal('shutdown.step'),
  ...envelope,
  name: z.string(),
  /** ms after shutdown.start */
  startMs: durationMs,
  durationMs: durationMs.nullable(),
  outcome: stepOutcomeSchema,
  error: z.string().nullable(),
});
export type ShutdownStep = z.infer<typeof shutdownStepSchema>;

export const shutdownResourceClosedSchema = z.object({
  type: z.literal('shutdown.closed'),
  ...envelope,
  id: z.number().int(),
  resourceType: z.string(),
  closedAfterMs: durationMs,
});
export type ShutdownResourceClosed = z.infer<typeof shutdownResourceClosedSchema>;

export const shutdownSignalSchema = z.object({
  type: z.literal('shutdown.signal'),
  ...envelope,
  signal: z.string(),
  afterMs: durationMs,
});
export type ShutdownSignal = z.infer<typeof shutdownSignalSchema>;

export const keptAliveSchema = z.object({
  id: z.number().int(),
  type: z.string(),
  createdAt: frameSchema.nullable(),
  details: detailsSchema.optional(),
});

export const shutdownHangSchema = z.object({
  type: z.literal('shutdown.hang'),
  ...envelope,
  afterMs: durationMs,
  keptAlive: z.array(keptAliveSchema),
});
export type ShutdownHang = z.infer<typeof shutdownHangSchema>;

export const shutdownEndSchema = z.object({
  type: z.literal('shutdown.end'),
  ...envelope,
  durationMs,
  outcome: shutdownOutcomeSchema,
  exit: z.object({ code: z.number().int().nullable(), signal: z.string().nullable() }),
  exitCaller: frameSchema.nullable(),
  /** Error message and stack of the crash, when outcome is crash. */
  error: z.string().nullable(),
  /** Resources from the start snapshot still open at the exit. */
  stillOpen: z.array(keptAliveSchema),
});
export type ShutdownEnd = z.infer<typeof shutdownEndSchema>;

export const noticeSchema = z.object({
  type: z.literal('notice'),
  ...envelope,
  level: z.enum(['info', 'warn', 'error']),
  code: z.string(),
  message: z.string(),
  /** e.g. the count of messages dropped while the dashboard was away */
  count: z.number().int().nonnegative().optional(),
});
export type Notice = z.infer<typeof noticeSchema>;

export const messageSchema = z.discriminatedUnion('type', [
  helloSchema,
  loopSchema,
  resourcesSchema,
  blockSchema,
  syncioSchema,
  shutdownStartSchema,
  shutdownStepSchema,
  shutdownResourceClosedSchema,
  shutdownSignalSchema,
  shutdownHangSchema,
  shutdownEndSchema,
  noticeSchema,
]);
export type Message = z.infer<typeof messageSchema>;
export type MessageType = Message['type'];
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

/** A message without its envelope: what the recording side of the agent stamps with run and ts. */
export type Unstamped<M extends Message = Message> = M extends Message ? Omit<M, 'run' | 'ts'> : never;

export type ParseResult = { ok: true; message: Message } | { ok: false; error: string };

/** Validates one decoded JSON value; the error names the offending field. */
export function parseMessage(value: unknown): ParseResult {
  const result = messageSchema.safeParse(value);
  if (result.success) return { ok: true, message: result.data };
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(message)';
  return { ok: false, error: `${where}: ${issue?.message ?? 'invalid message'}` };
}

/** Parses one NDJSON line / WebSocket frame. */
export function parseMessageText(text: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` };
  }
  return parseMessage(value);
}
