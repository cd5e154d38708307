// The object `loopscope report --json` prints, derived from folded run states. Pure (no Node APIs)
// so the dashboard can offer the same object for a run it holds. The key names are a contract
// (issues 2 and 3): fields may be added, never renamed.
import type { Frame, Hello, LiveResource, Notice, ShutdownTrigger } from './protocol.js';
import { noneSkipped, type ReportSkipped } from './report-skipped.js';

export type { ReportSkipped };
import { shutdownOutcome, shutdownResources, type LoopPoint, type RunState, type ShutdownState } from './run-state.js';

export interface ReportProcess {
  pid: number;
  argv: string[];
  nodeVersion: string;
  startedAt: number;
  // extensions
  run: string;
  app: string;
  ppid: number;
  parentRun: string | null;
  hostname: string;
  execArgv: string[];
  platform: string;
  arch: string;
  mode: Hello['mode'];
  agentVersion: string;
}

export interface ReportLoop {
  /** Median of the intervals' p50 delays. */
  delayP50Ms: number | null;
  /** Worst interval p99: a report is read for the bad moments, so the tail is not averaged away. */
  delayP99Ms: number | null;
  delayMaxMs: number | null;
  /** Mean ELU weighted by each interval's length (a short final interval counts for less). */
  utilization: number | null;
  // extensions
  intervals: number;
}

export interface ReportBlock {
  startedAt: number;
  durationMs: number;
  ended: boolean;
  stack: Frame[];
  resource: { type: string; createdAt: Frame | null } | null;
  // extensions
  id: number;
  native: boolean;
  stackKind: 'live' | 'none';
  syncCall: { api: string; createdAt: Frame | null } | null;
}

export interface ReportSyncCall {
  api: string;
  count: number;
  totalMs: number;
  maxMs: number;
  createdAt: Frame | null;
}

export interface ReportResource {
  type: string;
  ageMs: number | null;
  keepsAlive: boolean;
  createdAt: Frame | null;
  // extensions
  id: number;
  details?: LiveResource['details'];
  /** The full creation stack, when the agent ran with LOOPSCOPE_RESOURCE_STACKS=1. */
  stack?: Frame[];
}

export interface ReportShutdownResource {
  type: string;
  createdAt: Frame | null;
  closedAfterMs: number | null;
  keptAlive: boolean;
  // extensions
  id: number;
  details?: LiveResource['details'];
}

export interface ReportShutdown {
  trigger: ShutdownTrigger;
  startedAt: number;
  /** To the exit; for a process that vanished (`killed`), to its last streamed message. */
  durationMs: number;
  outcome: 'clean' | 'error' | 'timeout' | 'crash' | 'killed';
  exit: { code: number | null; signal: string | null };
  exitCaller: Frame | null;
  steps: { name: string; startMs: number; durationMs: number | null; outcome: string; error: string | null }[];
  resources: ReportShutdownResource[];
  hang: { afterMs: number; keptAlive: { type: string; createdAt: Frame | null }[] } | null;
  // extensions
  reason: string | null;
  error: string | null;
  /** Signals received after the one that began the shutdown. */
  signals: { signal: string; afterMs: number }[];
  snapshotTruncated: number;
  /** False when the process vanished before its end record (SIGKILL, power loss). */
  ended: boolean;
}

export interface ReportRun {
  process: ReportProcess | null;
  loop: ReportLoop;
  blocks: ReportBlock[];
  syncCalls: ReportSyncCall[];
  resources: {
    byType: Record<string, number>;
    oldest: ReportResource[];
    // extensions
    tracked: number;
    pendingPromises: number | null;
    sampledAt: number | null;
  };
  shutdown: ReportShutdown | null;
  // extensions
  run: string;
  /** Every ended block, including those older than the ones listed. */
  blockTotals: { count: number; blockedMs: number; dropped: number };
  notices: { level: Notice['level']; code: string; message: string; count: number | null }[];
  messages: number;
  firstTs: number;
  lastTs: number;
  /** Runs started by this one (child processes that inherited the agent). */
  children: ReportRun[];
}

export interface ReportFileFacts {
  /** Lines that were not valid protocol messages (a cut-off last line is not counted here). */
  invalidLines: number;
  /** The file ended in the middle of a line: the writer was killed mid-write. */
  truncatedLastLine: boolean;
  /** From a reader that bounds what it keeps; absent when every run was folded. */
  skipped?: ReportSkipped;
  /** The root to report on; by default the first top-level run (see rootRunId). */
  rootRun?: string | null;
}

export interface Report extends ReportRun {
  // extensions, file-level
  endedAbruptly: boolean;
  truncatedLastLine: boolean;
  invalidLines: number;
  /** Runs in the report, the root and every descendant (see skipped.runsInFile for the whole file). */
  runCount: number;
  skipped: ReportSkipped;
}

/**
 * The loop figures over a whole recording, accumulated one interval at a time so that a long
 * recording needs only one number per interval (for the median), not the run state's bounded ring.
 */
export class LoopAccumulator {
  private readonly p50s: number[] = [];
  private p99 = 0;
  private max = 0;
  private weightedElu = 0;
  private weight = 0;

  add(point: Pick<LoopPoint, 'intervalMs' | 'delay' | 'utilization'>): void {
    this.p50s.push(point.delay.p50Ms);
    this.p99 = Math.max(this.p99, point.delay.p99Ms);
    this.max = Math.max(this.max, point.delay.maxMs);
    // A zero-length interval still says something: give it a tiny weight rather than none.
    const w = point.intervalMs > 0 ? point.intervalMs : 1e-3;
    this.weightedElu += point.utilization * w;
    this.weight += w;
  }

  summary(): ReportLoop {
    const n = this.p50s.length;
    if (n === 0) return { delayP50Ms: null, delayP99Ms: null, delayMaxMs: null, utilization: null, intervals: 0 };
    return {
      delayP50Ms: round(median(this.p50s)),
      delayP99Ms: round(this.p99),
      delayMaxMs: round(this.max),
      utilization: round(this.weightedElu / this.weight, 4),
      intervals: n,
    };
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Microsecond precision is all a reader can use; the raw float noise is not. */
function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function processOf(run: string, hello: Hello | null): ReportProcess | null {
  if (!hello) return null;
  return {
    pid: hello.pid,
    argv: hello.argv,
    nodeVersion: hello.nodeVersion,
    startedAt: hello.startedAt,
    run,
    app: hello.app,
    ppid: hello.ppid,
    parentRun: hello.parentRun,
    hostname: hello.hostname,
    execArgv: hello.execArgv,
    platform: hello.platform,
    arch: hello.arch,
    mode: hello.mode,
    agentVersion: hello.agentVersion,
  };
}

function shutdownOf(sd: ShutdownState, lastTs: number): ReportShutdown {
  const end = sd.end;
  return {
    trigger: sd.start.trigger,
    startedAt: sd.start.startedAt,
    durationMs: round(end ? end.durationMs : Math.max(0, lastTs - sd.start.startedAt)),
    outcome: shutdownOutcome(sd),
    exit: end ? { code: end.exit.code, signal: end.exit.signal } : { code: null, signal: null },
    exitCaller: end?.exitCaller ?? null,
    steps: sd.steps.map((s) => ({
      name: s.name,
      startMs: round(s.startMs),
      durationMs: s.durationMs === null ? null : round(s.durationMs),
      outcome: s.outcome,
      error: s.error,
    })),
    resources: shutdownResources(sd).map((r) => {
      const row: ReportShutdownResource = {
        type: r.type,
        createdAt: r.createdAt,
        closedAfterMs: r.closedAfterMs === null ? null : round(r.closedAfterMs),
        keptAlive: r.keptAlive,
        id: r.id,
      };
      if (r.details) row.details = r.details;
      return row;
    }),
    hang: sd.hang ? { afterMs: round(sd.hang.afterMs), keptAlive: sd.hang.keptAlive.map((k) => ({ type: k.type, createdAt: k.createdAt })) } : null,
    reason: sd.start.reason,
    error: end?.error ?? null,
    signals: sd.signals.map((x) => ({ signal: x.signal, afterMs: round(x.afterMs) })),
    snapshotTruncated: sd.start.snapshotTruncated,
    ended: end !== null,
  };
}

/** One run's report; `loop` overrides the summary read from the state's (bounded) loop points. */
export function deriveRun(state: RunState, loop?: ReportLoop): ReportRun {
  let loopSummary = loop;
  if (!loopSummary) {
    const acc = new LoopAccumulator();
    for (const p of state.loop) acc.add(p);
    loopSummary = acc.summary();
  }
  const latest = state.latestResources;
  const lastShutdown = state.shutdowns[state.shutdowns.length - 1];
  return {
    process: processOf(state.run, state.hello),
    loop: loopSummary,
    blocks: state.blocks.map((b) => ({
      startedAt: b.startedAt,
      durationMs: round(b.durationMs),
      ended: b.ended,
      stack: b.stack,
      resource: b.resource ? { type: b.resource.type, createdAt: b.resource.createdAt } : null,
      id: b.id,
      native: b.native,
      stackKind: b.stackKind,
      syncCall: b.syncCall,
    })),
    syncCalls: state.syncSites
      .map((s) => ({ api: s.api, count: s.count, totalMs: round(s.totalMs), maxMs: round(s.maxMs), createdAt: s.createdAt }))
      .sort((a, b) => b.totalMs - a.totalMs),
    resources: {
      byType: latest ? { ...latest.byType } : {},
      oldest: (latest?.oldest ?? []).map((r) => {
        const row: ReportResource = { type: r.type, ageMs: r.ageMs, keepsAlive: r.keepsAlive, createdAt: r.createdAt, id: r.id };
        if (r.details) row.details = r.details;
        if (r.stack) row.stack = r.stack;
        return row;
      }),
      tracked: latest?.tracked ?? 0,
      pendingPromises: latest?.pendingPromises ?? null,
      sampledAt: latest?.ts ?? null,
    },
    shutdown: lastShutdown ? shutdownOf(lastShutdown, state.lastTs) : null,
    run: state.run,
    blockTotals: { count: state.blockCount, blockedMs: round(state.blockedMs), dropped: state.blocksDropped },
    notices: state.notices.map((n) => ({ level: n.level, code: n.code, message: n.message, count: n.count ?? null })),
    messages: state.messages,
    firstTs: state.firstTs,
    lastTs: state.lastTs,
    children: [],
  };
}

/**
 * The root of a recording: the first run that has a hello without a parentRun (the process the
 * user started); failing that, the first run with a hello; failing that, the first run at all.
 */
export function rootRunId(runs: Map<string, RunState>): string | null {
  let firstWithHello: string | null = null;
  for (const [id, s] of runs) {
    if (s.hello && s.hello.parentRun === null) return id;
    if (s.hello && firstWithHello === null) firstWithHello = id;
  }
  return firstWithHello ?? runs.keys().next().value ?? null;
}

/** Did the root run end without saying so? Only knowable when it followed shutdowns at all. */
function rootEndedAbruptly(root: RunState, facts: ReportFileFacts): boolean {
  if (facts.truncatedLastLine) return true;
  const followsShutdown = root.hello?.config['shutdown'] !== false;
  if (!followsShutdown) return false;
  const last = root.shutdowns[root.shutdowns.length - 1];
  return !last || last.end === null;
}

/**
 * The whole report: the root run with its descendants nested under `children`. A run whose
 * parent is not in the file hangs under the root, so nothing in the file is left out.
 */
export function deriveReport(
  runs: Map<string, RunState>,
  facts: ReportFileFacts,
  loops?: Map<string, ReportLoop>,
): Report | null {
  const rootId = facts.rootRun != null && runs.has(facts.rootRun) ? facts.rootRun : rootRunId(runs);
  if (rootId === null) return null;
  const reports = new Map<string, ReportRun>();
  for (const [id, state] of runs) reports.set(id, deriveRun(state, loops?.get(id)));
  for (const [id, state] of runs) {
    if (id === rootId) continue;
    const parentId = state.hello?.parentRun ?? null;
    const parent = parentId !== null && parentId !== id ? reports.get(parentId) : undefined;
    // Guard against a cycle (a run naming its own descendant as parent): fall back to the root.
    (parent && !isDescendant(runs, parentId!, id) ? parent : reports.get(rootId)!).children.push(reports.get(id)!);
  }
  const root = reports.get(rootId)!;
  return {
    ...root,
    endedAbruptly: rootEndedAbruptly(runs.get(rootId)!, facts),
    truncatedLastLine: facts.truncatedLastLine,
    invalidLines: facts.invalidLines,
    runCount: runs.size,
    skipped: facts.skipped ?? noneSkipped(runs.size),
  };
}

function isDescendant(runs: Map<string, RunState>, candidate: string, ancestor: string): boolean {
  let cur: string | null = candidate;
  for (let hops = 0; cur !== null && hops < runs.size; hops++) {
    if (cur === ancestor) return true;
    cur = runs.get(cur)?.hello?.parentRun ?? null;
  }
  return false;
}
