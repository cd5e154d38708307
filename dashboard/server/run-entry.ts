// One run as the store holds it: the folded state (with what was cut, `cuts`), where it came from,
// its file, and the seqs it has folded, written and queued, which ingest's acks depend on.
import type { RunSummary } from '../../shared/dashboard-api.js';
import { createRunState, runPhase, shutdownOutcome, type RunState } from '../../shared/run-state.js';
import { createCuts, type RunCuts } from './bounds.js';
import type { RunFile } from './persist.js';

export const UNKNOWN_APP = '(unknown)';

/** What GET /api/runs/:run answers: the shared run state and what the dashboard cut of it. */
export type StoredRunState = RunState & { cuts: RunCuts };

/** An uploaded recording: one file, any number of runs, kept or pruned together. */
export interface Upload {
  base: string;
  file: RunFile | null;
  uploadedAt: number;
  runs: Set<RunEntry>;
}

export interface RunEntry {
  id: string;
  state: StoredRunState;
  cuts: RunCuts;
  source: RunSummary['source'];
  connections: number;
  /** Counts connections, so a write failure blocks the rest of the connection it happened on. */
  epoch: number;
  /** Epoch whose writes are refused after a failed one (-1: none). */
  blockedEpoch: number;
  /** Highest seq folded into the state, handed to the file, and known to be on disk. */
  appliedSeq: number;
  queuedSeq: number;
  writtenSeq: number;
  file: RunFile | null;
  /** Live runs: the data file's base name. */
  base: string | null;
  /** Bytes in (or queued for) the live run's file. */
  fileBytes: number;
  upload: Upload | null;
  summaryKey: string;
  /** JSON size of the state, estimated between measures. */
  bytes: number;
  /** When the dashboard got it (an upload: the upload's time): the order of pruning. */
  arrivedAt: number;
}

export function newEntry(id: string, source: RunSummary['source'], arrivedAt: number): RunEntry {
  const cuts = createCuts();
  const state = Object.assign(createRunState(id), { cuts });
  return {
    id,
    state,
    cuts,
    source,
    connections: 0,
    epoch: 0,
    blockedEpoch: -1,
    appliedSeq: -1,
    queuedSeq: -1,
    writtenSeq: -1,
    file: null,
    base: null,
    fileBytes: 0,
    upload: null,
    summaryKey: '',
    bytes: 0,
    arrivedAt,
  };
}

export function appOf(e: RunEntry): string {
  return e.state.hello?.app || UNKNOWN_APP;
}

export function byArrival(a: RunEntry, b: RunEntry): number {
  return a.arrivedAt - b.arrivedAt;
}

export function summaryOf(e: RunEntry): RunSummary {
  const { state } = e;
  const hello = state.hello;
  const connected = e.connections > 0;
  const sd = state.shutdowns[state.shutdowns.length - 1] ?? null;
  // A shutdown still in progress on a connected run has no outcome yet; a vanished one was killed.
  const outcome = sd ? (sd.end || !connected ? shutdownOutcome(sd) : null) : null;
  return {
    run: e.id,
    app: appOf(e),
    pid: hello?.pid ?? null,
    hostname: hello?.hostname ?? null,
    nodeVersion: hello?.nodeVersion ?? null,
    parentRun: hello?.parentRun ?? null,
    source: e.source,
    connected,
    phase: runPhase(state, connected),
    startedAt: hello?.startedAt ?? (state.firstTs || null),
    lastTs: state.lastTs,
    blockCount: state.blockCount,
    outcome,
    exitCode: sd?.end?.exit.code ?? null,
    exitSignal: sd?.end?.exit.signal ?? null,
  };
}

export function summaryKey(s: RunSummary): string {
  // lastTs moves with every message; the list only needs an event when something else changes.
  return JSON.stringify({ ...s, lastTs: 0 });
}
