// One run's state, folded from its messages. The report, the dashboard's store and the page all
// reduce the same stream with this code, so a recording, the live view and `report --json`
// cannot disagree. No Node APIs here: the page bundles it.
import type {
  BlockEvent,
  DelaySummary,
  Frame,
  Hello,
  LiveResource,
  Message,
  Notice,
  ResourcesSample,
  ShutdownEnd,
  ShutdownHang,
  ShutdownStart,
  ShutdownStep,
  SyncCallStat,
} from './protocol.js';

export interface RunStateLimits {
  /** Loop and resource points kept for charts (a ring: the oldest go first). */
  maxPoints: number;
  /** Blocks kept; older ones are dropped but still counted. */
  maxBlocks: number;
  /** Shutdowns kept per run (a run normally has one). */
  maxShutdowns: number;
  /** Distinct sync call sites kept. */
  maxSyncSites: number;
  maxNotices: number;
}

export const DEFAULT_LIMITS: RunStateLimits = {
  maxPoints: 3600,
  maxBlocks: 500,
  maxShutdowns: 5,
  maxSyncSites: 500,
  maxNotices: 100,
};

export interface LoopPoint {
  ts: number;
  intervalMs: number;
  delay: DelaySummary;
  utilization: number;
}

export interface ResourcePoint {
  ts: number;
  byType: Record<string, number>;
  pendingPromises?: number;
}

export interface StepState {
  name: string;
  startMs: number;
  durationMs: number | null;
  outcome: ShutdownStep['outcome'];
  error: string | null;
}

export interface ShutdownState {
  start: ShutdownStart;
  steps: StepState[];
  /** Resource id -> ms after the start at which it closed. */
  closed: Record<number, number>;
  signals: { signal: string; afterMs: number }[];
  hang: ShutdownHang | null;
  end: ShutdownEnd | null;
}

export interface SyncSite extends SyncCallStat {}

export interface RunState {
  run: string;
  hello: Hello | null;
  firstTs: number;
  lastTs: number;
  messages: number;
  loop: LoopPoint[];
  resourcePoints: ResourcePoint[];
  latestResources: ResourcesSample | null;
  blocks: BlockEvent[];
  blocksDropped: number;
  /** Final (ended) blocks seen, and their total duration: kept even when old blocks are dropped. */
  blockCount: number;
  blockedMs: number;
  syncSites: SyncSite[];
  shutdowns: ShutdownState[];
  notices: Notice[];
}

export function createRunState(run: string): RunState {
  return {
    run,
    hello: null,
    firstTs: 0,
    lastTs: 0,
    messages: 0,
    loop: [],
    resourcePoints: [],
    latestResources: null,
    blocks: [],
    blocksDropped: 0,
    blockCount: 0,
    blockedMs: 0,
    syncSites: [],
    shutdowns: [],
    notices: [],
  };
}

function pushBounded<T>(list: T[], item: T, max: number): number {
  list.push(item);
  let dropped = 0;
  while (list.length > max) {
    list.shift();
    dropped++;
  }
  return dropped;
}

export function sameFrame(a: Frame | null, b: Frame | null): boolean {
  if (a === null || b === null) return a === b;
  return a.file === b.file && a.line === b.line && a.column === b.column && a.functionName === b.functionName;
}

function currentShutdown(state: RunState): ShutdownState | null {
  return state.shutdowns[state.shutdowns.length - 1] ?? null;
}

/** Folds one message into the state (mutates and returns it). */
export function applyMessage(state: RunState, m: Message, limits: RunStateLimits = DEFAULT_LIMITS): RunState {
  state.messages++;
  if (state.firstTs === 0 || m.ts < state.firstTs) state.firstTs = m.ts;
  if (m.ts > state.lastTs) state.lastTs = m.ts;
  switch (m.type) {
    case 'hello':
      state.hello = m;
      break;
    case 'loop':
      pushBounded(state.loop, { ts: m.ts, intervalMs: m.intervalMs, delay: m.delay, utilization: m.utilization }, limits.maxPoints);
      break;
    case 'resources': {
      state.latestResources = m;
      const point: ResourcePoint = { ts: m.ts, byType: m.byType };
      if (m.pendingPromises !== undefined) point.pendingPromises = m.pendingPromises;
      pushBounded(state.resourcePoints, point, limits.maxPoints);
      break;
    }
    case 'block': {
      const i = state.blocks.findIndex((b) => b.id === m.id);
      const prev = i >= 0 ? state.blocks[i] : undefined;
      // A later message about the same block may arrive without a stack (measured end only):
      // keep the live stack the earlier one carried.
      const merged: BlockEvent =
        prev && m.stack.length === 0 && prev.stack.length > 0
          ? { ...m, stack: prev.stack, stackKind: prev.stackKind, resource: m.resource ?? prev.resource }
          : m;
      if (m.ended && !(prev && prev.ended)) {
        state.blockCount++;
        state.blockedMs += m.durationMs;
      }
      if (i >= 0) state.blocks[i] = merged;
      else state.blocksDropped += pushBounded(state.blocks, merged, limits.maxBlocks);
      break;
    }
    case 'syncio':
      for (const call of m.calls) {
        const site = state.syncSites.find((s) => s.api === call.api && sameFrame(s.createdAt, call.createdAt));
        if (site) {
          site.count += call.count;
          site.totalMs += call.totalMs;
          site.maxMs = Math.max(site.maxMs, call.maxMs);
        } else if (state.syncSites.length < limits.maxSyncSites) {
          state.syncSites.push({ ...call });
        }
      }
      break;
    case 'shutdown.start':
      pushBounded(state.shutdowns, { start: m, steps: [], closed: {}, signals: [], hang: null, end: null }, limits.maxShutdowns);
      break;
    case 'shutdown.step': {
      const sd = currentShutdown(state);
      if (!sd) break;
      const step: StepState = { name: m.name, startMs: m.startMs, durationMs: m.durationMs, outcome: m.outcome, error: m.error };
      const i = sd.steps.findIndex((s) => s.name === m.name && s.startMs === m.startMs);
      if (i >= 0) sd.steps[i] = step;
      else sd.steps.push(step);
      break;
    }
    case 'shutdown.closed': {
      const sd = currentShutdown(state);
      if (sd && sd.closed[m.id] === undefined) sd.closed[m.id] = m.closedAfterMs;
      break;
    }
    case 'shutdown.signal':
      currentShutdown(state)?.signals.push({ signal: m.signal, afterMs: m.afterMs });
      break;
    case 'shutdown.hang': {
      const sd = currentShutdown(state);
      if (sd) sd.hang = m;
      break;
    }
    case 'shutdown.end': {
      const sd = currentShutdown(state);
      if (sd) sd.end = m;
      break;
    }
    case 'notice':
      pushBounded(state.notices, m, limits.maxNotices);
      break;
  }
  return state;
}

/** Live state of a run as a person would name it. */
export type RunPhase = 'running' | 'blocked' | 'shutting-down' | 'exited' | 'ended-abruptly';

export function runPhase(state: RunState, connected: boolean): RunPhase {
  const sd = currentShutdown(state);
  if (sd?.end) return 'exited';
  if (!connected) return 'ended-abruptly';
  if (sd) return 'shutting-down';
  const last = state.blocks[state.blocks.length - 1];
  if (last && !last.ended) return 'blocked';
  return 'running';
}

/** The outcome of a shutdown, inferring `killed` when the process vanished without an end. */
export function shutdownOutcome(sd: ShutdownState): ShutdownEnd['outcome'] {
  return sd.end ? sd.end.outcome : 'killed';
}

export interface ShutdownResourceRow {
  id: number;
  type: string;
  createdAt: Frame | null;
  closedAfterMs: number | null;
  keptAlive: boolean;
  details?: LiveResource['details'];
}

/** Each resource of the start snapshot with when it closed (null: still open at the end). */
export function shutdownResources(sd: ShutdownState): ShutdownResourceRow[] {
  return sd.start.resources.map((r) => {
    const closed = sd.closed[r.id];
    const row: ShutdownResourceRow = {
      id: r.id,
      type: r.type,
      createdAt: r.createdAt,
      closedAfterMs: closed ?? null,
      keptAlive: closed === undefined && r.keepsAlive,
    };
    if (r.details) row.details = r.details;
    return row;
  });
}

/** Groups messages of a mixed stream (a recording of a process tree) by run, in arrival order. */
export function foldMessages(messages: Iterable<Message>, limits: RunStateLimits = DEFAULT_LIMITS): Map<string, RunState> {
  const runs = new Map<string, RunState>();
  for (const m of messages) {
    let state = runs.get(m.run);
    if (!state) {
      state = createRunState(m.run);
      runs.set(m.run, state);
    }
    applyMessage(state, m, limits);
  }
  return runs;
}
