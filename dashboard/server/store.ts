// Every run the dashboard knows: one RunState per run folded with the shared reducer (never
// re-derived here), the run's NDJSON file on disk, and the summaries the process list shows.
// Bounded: each RunState by the reducer's limits, the number of runs by the prune limits.
import { join } from 'node:path';
import type { Message } from '../../shared/protocol.js';
import type { RunSummary } from '../../shared/dashboard-api.js';
import {
  applyMessage,
  createRunState,
  runPhase,
  shutdownOutcome,
  DEFAULT_LIMITS,
  type RunState,
  type RunStateLimits,
} from '../../shared/run-state.js';
import { RunFile, recoverRunFile, ensureDir, listDataFiles, readNdjsonFile, removeRunFiles, runFileBase, writeRecordingSync } from './persist.js';

/** Data files of recordings opened in the dashboard: `<base>.recording.ndjson`. */
const RECORDING_SUFFIX = '.recording';
/** Id of an opened recording's run that the dashboard also followed live. */
const REC_ID_SUFFIX = '~rec';

/** Documented defaults: runs kept per app name, and in all, before the oldest finished ones go. */
export const DEFAULT_MAX_RUNS_PER_APP = 20;
export const DEFAULT_MAX_RUNS = 500;
export const UNKNOWN_APP = '(unknown)';

export interface StoreOptions {
  /** Data folder; null keeps everything in memory only. */
  dir: string | null;
  limits?: RunStateLimits;
  maxRunsPerApp?: number;
  maxRuns?: number;
  log: (line: string) => void;
}

export interface StoreListener {
  message(m: Message): void;
  run(summary: RunSummary): void;
  /** The list changed in a way a single run event cannot say (runs pruned). */
  runs(): void;
}

interface RunEntry {
  id: string;
  state: RunState;
  source: RunSummary['source'];
  connections: number;
  lastSeq: number;
  file: RunFile | null;
  base: string | null;
  summaryKey: string;
}

export class Store {
  private readonly runs = new Map<string, RunEntry>();
  private readonly limits: RunStateLimits;
  private readonly maxRunsPerApp: number;
  private readonly maxRuns: number;
  private listener: StoreListener | null = null;
  private diskErrors = 0;

  constructor(private readonly options: StoreOptions) {
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.maxRunsPerApp = options.maxRunsPerApp ?? DEFAULT_MAX_RUNS_PER_APP;
    this.maxRuns = options.maxRuns ?? DEFAULT_MAX_RUNS;
    if (options.dir) {
      try {
        ensureDir(options.dir);
      } catch (err) {
        this.diskError(`create ${options.dir}`, err as NodeJS.ErrnoException);
      }
    }
  }

  setListener(listener: StoreListener): void {
    this.listener = listener;
  }

  /** Loads every data file back: a restarted dashboard shows what it had, runs as disconnected. */
  async load(): Promise<{ runs: number; skippedLines: number }> {
    const dir = this.options.dir;
    if (!dir) return { runs: 0, skippedLines: 0 };
    let skippedLines = 0;
    const files = listDataFiles(dir);
    for (const file of files) {
      const base = file.slice(0, -'.ndjson'.length);
      if (base.endsWith(RECORDING_SUFFIX)) continue;
      let result;
      const { lastSeq, cut } = recoverRunFile(join(dir, file), join(dir, `${base}.seq`));
      if (cut) this.options.log(`data: ${file} was left mid-write (a crash?): cut off ${cut}`);
      try {
        result = await readNdjsonFile(join(dir, file));
      } catch (err) {
        this.options.log(`data: cannot read ${file}: ${(err as Error).message}`);
        continue;
      }
      skippedLines += result.skipped;
      if (result.messages.length === 0) continue;
      for (const m of result.messages) {
        let e = this.runs.get(m.run);
        if (!e) {
          e = this.newEntry(m.run, 'live');
          e.base = base;
          e.lastSeq = lastSeq;
          this.runs.set(m.run, e);
        }
        applyMessage(e.state, m, this.limits);
      }
    }
    // Opened recordings after the live runs, so that one of a run also followed live gets its ~rec id.
    for (const file of files) {
      const base = file.slice(0, -'.ndjson'.length);
      if (!base.endsWith(RECORDING_SUFFIX)) continue;
      try {
        const result = await readNdjsonFile(join(dir, file));
        skippedLines += result.skipped;
        for (const id of this.foldRecording(result.messages)) {
          const e = this.runs.get(id);
          if (e) e.base = base;
        }
      } catch (err) {
        this.options.log(`data: cannot read ${file}: ${(err as Error).message}`);
      }
    }
    for (const e of this.runs.values()) e.summaryKey = summaryKey(this.summaryOf(e));
    this.prune();
    return { runs: this.runs.size, skippedLines };
  }

  private newEntry(id: string, source: RunSummary['source']): RunEntry {
    return { id, state: createRunState(id), source, connections: 0, lastSeq: -1, file: null, base: null, summaryKey: '' };
  }

  private diskError(what: string, err: NodeJS.ErrnoException): void {
    if (this.diskErrors++ === 0) {
      this.options.log(
        `data: ${what} failed (${err.code ?? err.message}); affected runs are kept in memory only (further disk errors are not logged)`,
      );
    }
  }

  get diskErrorCount(): number {
    return this.diskErrors;
  }

  has(run: string): boolean {
    return this.runs.has(run);
  }

  /** The last seq stored for a run (-1: none), for ingest's dedup of resent batches. */
  lastSeq(run: string): number {
    return this.runs.get(run)?.lastSeq ?? -1;
  }

  /**
   * Stores one validated batch of a run. Returns false for a batch already stored (a resend),
   * which must still be acked. `done` runs once the batch is on disk (or the disk gave up).
   */
  accept(run: string, seq: number, messages: readonly Message[], done: () => void): boolean {
    let e = this.runs.get(run);
    const created = !e;
    if (!e) {
      e = this.newEntry(run, 'live');
      this.runs.set(run, e);
    }
    if (seq <= e.lastSeq) {
      done();
      return false;
    }
    e.lastSeq = seq;
    e.source = 'live';
    let sawHello = false;
    for (const m of messages) {
      applyMessage(e.state, m, this.limits);
      if (m.type === 'hello') sawHello = true;
      this.listener?.message(m);
    }
    this.persist(e, messages, seq, done);
    this.publishIfChanged(e);
    if (created || sawHello) this.prune();
    return true;
  }

  private persist(e: RunEntry, messages: readonly Message[], seq: number, done: () => void): void {
    const dir = this.options.dir;
    if (!dir) return done();
    if (!e.file) {
      e.base ??= runFileBase(e.id);
      e.file = new RunFile(join(dir, `${e.base}.ndjson`), join(dir, `${e.base}.seq`), (what, err) => this.diskError(what, err));
    }
    e.file.reopen();
    let text = '';
    for (const m of messages) text += JSON.stringify(m) + '\n';
    e.file.append(text, seq, done);
  }

  connect(run: string): void {
    let e = this.runs.get(run);
    if (!e) {
      e = this.newEntry(run, 'live');
      this.runs.set(run, e);
    }
    e.connections++;
    this.publishIfChanged(e);
  }

  disconnect(run: string): void {
    const e = this.runs.get(run);
    if (!e) return;
    e.connections = Math.max(0, e.connections - 1);
    if (e.connections === 0) e.file?.close();
    this.publishIfChanged(e);
  }

  /**
   * Adds the runs of a recording (source 'recording') and keeps a copy in the data folder, so a
   * restarted dashboard still shows what was opened in it. Returns their ids.
   */
  addRecording(messages: readonly Message[]): string[] {
    const ids = this.foldRecording(messages);
    const dir = this.options.dir;
    if (dir) {
      for (const id of ids) {
        const e = this.runs.get(id);
        if (!e) continue;
        e.base = `${runFileBase(id)}${RECORDING_SUFFIX}`;
        const run = id.endsWith(REC_ID_SUFFIX) ? id.slice(0, -REC_ID_SUFFIX.length) : id;
        try {
          ensureDir(dir);
          writeRecordingSync(join(dir, `${e.base}.ndjson`), messages.filter((m) => m.run === run));
        } catch (err) {
          this.diskError(`save the recording ${id}`, err as NodeJS.ErrnoException);
        }
      }
    }
    return ids;
  }

  private foldRecording(messages: readonly Message[]): string[] {
    const byRun = new Map<string, RunEntry>();
    for (const m of messages) {
      let e = byRun.get(m.run);
      if (!e) {
        // A recording of a run the dashboard also followed live must not overwrite the live one.
        const existing = this.runs.get(m.run);
        const id = existing && existing.source === 'live' ? `${m.run}${REC_ID_SUFFIX}` : m.run;
        e = this.newEntry(id, 'recording');
        byRun.set(m.run, e);
      }
      applyMessage(e.state, m, this.limits);
    }
    for (const e of byRun.values()) {
      this.runs.set(e.id, e);
      this.publishIfChanged(e, true);
    }
    this.prune();
    return [...byRun.values()].map((e) => e.id);
  }

  private publishIfChanged(e: RunEntry, force = false): void {
    const summary = this.summaryOf(e);
    const key = summaryKey(summary);
    if (!force && key === e.summaryKey) return;
    e.summaryKey = key;
    this.listener?.run(summary);
  }

  private summaryOf(e: RunEntry): RunSummary {
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

  summaries(): RunSummary[] {
    return [...this.runs.values()].map((e) => this.summaryOf(e));
  }

  summary(run: string): RunSummary | null {
    const e = this.runs.get(run);
    return e ? this.summaryOf(e) : null;
  }

  state(run: string): RunState | null {
    return this.runs.get(run)?.state ?? null;
  }

  get size(): number {
    return this.runs.size;
  }

  /** Drops the oldest runs that are not connected, past the per-app and total limits. */
  private prune(): void {
    const victims = new Set<RunEntry>();
    const byApp = new Map<string, RunEntry[]>();
    for (const e of this.runs.values()) {
      const app = appOf(e);
      const list = byApp.get(app);
      if (list) list.push(e);
      else byApp.set(app, [e]);
    }
    for (const list of byApp.values()) {
      if (list.length <= this.maxRunsPerApp) continue;
      const removable = list.filter((e) => e.connections === 0).sort(byAge);
      for (let i = 0; i < list.length - this.maxRunsPerApp && i < removable.length; i++) victims.add(removable[i]!);
    }
    const remaining = this.runs.size - victims.size;
    if (remaining > this.maxRuns) {
      const removable = [...this.runs.values()].filter((e) => e.connections === 0 && !victims.has(e)).sort(byAge);
      for (let i = 0; i < remaining - this.maxRuns && i < removable.length; i++) victims.add(removable[i]!);
    }
    if (victims.size === 0) return;
    for (const e of victims) this.remove(e);
    this.listener?.runs();
  }

  private remove(e: RunEntry): void {
    this.runs.delete(e.id);
    e.file?.close();
    const dir = this.options.dir;
    if (dir && e.base) {
      const base = e.base;
      const file = e.file;
      // Delete after pending writes, or they would recreate the file.
      void (file ? file.idle() : Promise.resolve()).then(() => {
        try {
          removeRunFiles(dir, base);
        } catch (err) {
          this.diskError(`delete ${base}`, err as NodeJS.ErrnoException);
        }
      });
    }
  }

  /** Waits for queued disk writes. */
  async flush(): Promise<void> {
    await Promise.all([...this.runs.values()].map((e) => e.file?.idle()));
  }

  close(): void {
    for (const e of this.runs.values()) e.file?.close();
  }
}

function appOf(e: RunEntry): string {
  return e.state.hello?.app || UNKNOWN_APP;
}

function startOf(e: RunEntry): number {
  return e.state.hello?.startedAt ?? e.state.firstTs;
}

function byAge(a: RunEntry, b: RunEntry): number {
  return startOf(a) - startOf(b);
}

function summaryKey(s: RunSummary): string {
  // lastTs moves with every message; the list only needs an event when something else changes.
  return JSON.stringify({ ...s, lastTs: 0 });
}
