// Every run the dashboard knows: one RunState per run folded with the shared reducer (never
// re-derived here), its file in the data folder, and the summaries the process list shows.
// Bounded whatever a client sends: each message by the field caps (bounds.ts), each run's state
// and all of them together in bytes (run-memory.ts), the data folder in bytes and each live run's
// share of it (data-folder.ts), the number of runs by the prune limits. What was cut is counted
// per run (`cuts`). A batch is acked once it is on disk; what a bound kept off the disk is acked
// too (resending would not help) and counted as not written.
import { join } from 'node:path';
import type { Message } from '../../shared/protocol.js';
import type { RunSummary } from '../../shared/dashboard-api.js';
import { applyMessage, DEFAULT_LIMITS, type RunStateLimits } from '../../shared/run-state.js';
import { boundMessage, type BoundedMessage } from './bounds.js';
import { DEFAULT_MAX_AGE_DAYS, DEFAULT_MAX_DATA_BYTES, FolderBytes, RUN_FILE_ROUTINE_PART } from './data-folder.js';
import { RunFile, ensureDir, removeFiles, runFileBase, type WrittenFn } from './persist.js';
import { DEFAULT_MAX_MEMORY_BYTES, DEFAULT_MAX_RUN_BYTES, TRIM_TO, evictDetail, stateBytes, trimState } from './run-memory.js';
import { appOf, byArrival, newEntry, summaryKey, summaryOf, type RunEntry, type StoredRunState, type Upload } from './run-entry.js';
import { loadDataFolder, type LoadResult } from './store-load.js';
import { UploadSession } from './uploads.js';

export { UNKNOWN_APP, type StoredRunState } from './run-entry.js';

/** Documented defaults: live runs kept per app name, runs in all, uploads, before the oldest finished ones go. */
export const DEFAULT_MAX_RUNS_PER_APP = 20;
export const DEFAULT_MAX_RUNS = 500;
export const DEFAULT_MAX_UPLOADS = 50;
const DAY_MS = 24 * 60 * 60 * 1000;
/** How often finished runs past the age bound are looked for. */
const AGE_CHECK_MS = 60 * 60 * 1000;

export interface StoreOptions {
  /** Data folder; null keeps everything in memory only. */
  dir: string | null;
  limits?: RunStateLimits;
  maxRunsPerApp?: number;
  maxRuns?: number;
  maxUploads?: number;
  /** A run's state, as JSON bytes. */
  maxRunBytes?: number;
  /** All runs' states together, as JSON bytes. */
  maxMemoryBytes?: number;
  maxDataBytes?: number;
  maxAgeDays?: number;
  log: (line: string) => void;
}

export interface StoreListener {
  message(m: Message): void;
  run(summary: RunSummary): void;
  /** The list changed in a way a single run event cannot say (runs pruned). */
  runs(): void;
}

/** Messages that end a run: still written when a run's file is near its bound. */
function endsRun(m: Message): boolean {
  return m.type === 'hello' || m.type.startsWith('shutdown.');
}

export class Store {
  /** @internal for store-load.ts and uploads.ts */
  readonly runs = new Map<string, RunEntry>();
  /** @internal */
  readonly uploads = new Set<Upload>();
  /** @internal null without a data folder */
  readonly folder: FolderBytes | null;
  readonly limits: RunStateLimits;
  readonly maxRunsPerApp: number;
  readonly maxRuns: number;
  readonly maxUploads: number;
  readonly maxRunBytes: number;
  readonly maxMemoryBytes: number;
  readonly maxAgeMs: number;
  private memory = 0;
  private listener: StoreListener | null = null;
  private diskErrors = 0;
  /** Set while old data loads: a promise for a run whose file has not been read yet. */
  private loadGate: ((run: string) => Promise<void> | null) | null = null;
  private ageTimer: NodeJS.Timeout | null = null;
  closed = false;

  constructor(readonly options: StoreOptions) {
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.maxRunsPerApp = options.maxRunsPerApp ?? DEFAULT_MAX_RUNS_PER_APP;
    this.maxRuns = options.maxRuns ?? DEFAULT_MAX_RUNS;
    this.maxUploads = options.maxUploads ?? DEFAULT_MAX_UPLOADS;
    this.maxRunBytes = options.maxRunBytes ?? DEFAULT_MAX_RUN_BYTES;
    this.maxMemoryBytes = options.maxMemoryBytes ?? DEFAULT_MAX_MEMORY_BYTES;
    this.maxAgeMs = (options.maxAgeDays ?? DEFAULT_MAX_AGE_DAYS) * DAY_MS;
    this.folder = options.dir ? new FolderBytes(options.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES) : null;
    if (options.dir) {
      try {
        ensureDir(options.dir);
      } catch (err) {
        this.diskError(`create ${options.dir}`, err as NodeJS.ErrnoException);
      }
      this.ageTimer = setInterval(() => this.pruneByAge(), AGE_CHECK_MS);
      this.ageTimer.unref();
    }
  }

  setListener(listener: StoreListener): void {
    this.listener = listener;
  }

  /**
   * Reads the data folder back (a restarted dashboard shows what it had, runs as disconnected).
   * Meant to run after the server listens: runs appear as their files are read, and a run whose
   * agent reconnects meanwhile has its file read first.
   */
  load(): Promise<LoadResult> {
    return loadDataFolder(this);
  }

  /** @internal */
  setLoadGate(gate: ((run: string) => Promise<void> | null) | null): void {
    this.loadGate = gate;
  }

  /** @internal */
  diskError(what: string, err: NodeJS.ErrnoException): void {
    if (this.diskErrors++ === 0) {
      this.options.log(`data: ${what} failed (${err.code ?? err.message}); batches not written are not acknowledged (further disk errors are not logged)`);
    }
  }

  get diskErrorCount(): number {
    return this.diskErrors;
  }

  /** Bytes of JSON the runs' states hold, as estimated. */
  get memoryBytes(): number {
    return this.memory;
  }

  has(run: string): boolean {
    return this.runs.has(run);
  }

  /** The last seq stored for a run (-1: none), for ingest's dedup of resent batches. */
  lastSeq(run: string): number {
    return this.runs.get(run)?.appliedSeq ?? -1;
  }

  /**
   * Cuts a message to the caps and folds it into a run, keeping the run and the store under
   * their memory bounds. @internal
   */
  fold(e: RunEntry, m: Message, forward: boolean): BoundedMessage {
    const bounded = boundMessage(m);
    e.cuts.fieldsCut += bounded.fieldsCut;
    applyMessage(e.state, bounded.message, this.limits);
    e.bytes += bounded.line.length;
    this.memory += bounded.line.length;
    if (e.bytes > this.maxRunBytes) this.shrink(e, Math.floor(this.maxRunBytes * TRIM_TO));
    if (this.memory > this.maxMemoryBytes) this.evict();
    if (forward) this.listener?.message(bounded.message);
    return bounded;
  }

  private shrink(e: RunEntry, target: number): void {
    e.cuts.detailDropped += trimState(e.state, target);
    this.remeasure(e);
  }

  /** @internal */
  remeasure(e: RunEntry): void {
    const bytes = stateBytes(e.state);
    this.memory += bytes - e.bytes;
    e.bytes = bytes;
  }

  /** Over the store's bound: the oldest finished runs lose their detail, then the largest live ones are cut to a fair share. */
  private evict(): void {
    const target = Math.floor(this.maxMemoryBytes * TRIM_TO);
    const finished = [...this.runs.values()].filter((e) => e.connections === 0 && !e.cuts.evicted).sort(byArrival);
    for (const e of finished) {
      if (this.memory <= target) return;
      e.cuts.detailDropped += evictDetail(e.state);
      e.cuts.evicted = true;
      this.remeasure(e);
    }
    const share = Math.floor(target / Math.max(1, this.runs.size));
    const largest = [...this.runs.values()].filter((e) => e.bytes > share).sort((a, b) => b.bytes - a.bytes);
    for (const e of largest) {
      if (this.memory <= target) return;
      this.shrink(e, share);
    }
  }

  /**
   * Stores one validated batch of a run. Returns false for a batch already folded (a resend).
   * `done(null)` once the batch is on disk (or kept off it by a bound), `done(err)` when the disk
   * failed: the batch must not be acked, the agent resends it on its next connection.
   */
  accept(run: string, seq: number, messages: readonly Message[], done: WrittenFn): boolean {
    const waiting = this.loadGate?.(run);
    if (waiting) {
      void waiting.then(() => this.accept(run, seq, messages, done));
      return true;
    }
    const { e, created } = this.liveEntry(run);
    const fresh = seq > e.appliedSeq;
    let bounded: BoundedMessage[] | null = null;
    let sawHello = false;
    if (fresh) {
      e.appliedSeq = seq;
      bounded = messages.map((m) => this.fold(e, m, true));
      sawHello = messages.some((m) => m.type === 'hello');
    }
    if (!this.folder) done(null);
    else if (seq <= e.writtenSeq) done(null);
    else if (e.blockedEpoch === e.epoch) {
      done(Object.assign(new Error('an earlier batch of this connection was not written'), { code: 'EBLOCKED' }));
    } else if (seq <= e.queuedSeq && e.file) e.file.append('', seq, done);
    else this.writeLive(e, bounded ?? messages.map((m) => boundMessage(m)), seq, done);
    this.publishIfChanged(e);
    if (created || sawHello) this.prune();
    return fresh;
  }

  /** The live entry of a run id; an uploaded run that had the id moves aside to `<id>~rec`. */
  private liveEntry(run: string): { e: RunEntry; created: boolean } {
    const existing = this.runs.get(run);
    if (existing && existing.source === 'live') return { e: existing, created: false };
    if (existing) {
      this.runs.delete(run);
      existing.id = this.recordingId(run);
      existing.state.run = existing.id;
      this.runs.set(existing.id, existing);
      this.listener?.runs();
    }
    const e = newEntry(run, 'live', Date.now());
    this.runs.set(run, e);
    return { e, created: true };
  }

  /** @internal A free id for an uploaded run (a live run keeps its own id). */
  recordingId(run: string): string {
    const existing = this.runs.get(run);
    if (!existing || existing.source === 'recording') return run;
    for (let i = 1; ; i++) {
      const id = `${run}~rec${i === 1 ? '' : i}`;
      const other = this.runs.get(id);
      if (!other || other.source === 'recording') return id;
    }
  }

  private writeLive(e: RunEntry, bounded: readonly BoundedMessage[], seq: number, done: WrittenFn): void {
    const folder = this.folder!;
    const dir = this.options.dir!;
    const cap = folder.runFileBytes;
    let text = '';
    let bytes = 0;
    let lines = 0;
    for (const b of bounded) {
      const n = Buffer.byteLength(b.line);
      const limit = endsRun(b.message) ? cap : cap * RUN_FILE_ROUTINE_PART;
      if (e.fileBytes + bytes + n > limit) {
        e.cuts.notWritten++;
        e.cuts.notWrittenBytes += n;
        continue;
      }
      text += b.line;
      bytes += n;
      lines++;
    }
    if (bytes > 0 && !folder.fits(bytes) && !this.makeRoom(bytes, e)) {
      e.cuts.notWritten += lines;
      e.cuts.notWrittenBytes += bytes;
      text = '';
      bytes = 0;
    }
    e.base ??= runFileBase(e.id);
    const name = `${e.base}.ndjson`;
    e.file ??= new RunFile(join(dir, name), join(dir, `${e.base}.seq`), (what, err) => this.diskError(what, err), (size) => {
      e.fileBytes = size;
      folder.set(name, size);
    });
    e.fileBytes += bytes;
    folder.set(name, e.fileBytes);
    e.queuedSeq = seq;
    e.file.append(text, seq, (err) => {
      if (err) {
        e.queuedSeq = e.writtenSeq;
        e.blockedEpoch = e.epoch;
        return done(err);
      }
      if (seq > e.writtenSeq) e.writtenSeq = seq;
      done(null);
    });
  }

  /** @internal Deletes the oldest finished runs and uploads until `bytes` more fit the folder. */
  makeRoom(bytes: number, except: RunEntry | Upload): boolean {
    const folder = this.folder!;
    const candidates = [...this.runs.values()].filter((e) => e.connections === 0 && e !== except && e.upload !== except).sort(byArrival);
    let removed = false;
    for (const e of candidates) {
      if (folder.fits(bytes)) break;
      if (!this.runs.has(e.id)) continue;
      if (e.upload) this.removeUpload(e.upload);
      else this.remove(e);
      removed = true;
    }
    if (removed) this.listener?.runs();
    return folder.fits(bytes);
  }

  connect(run: string): void {
    const waiting = this.loadGate?.(run);
    if (waiting) {
      void waiting.then(() => this.connect(run));
      return;
    }
    const { e } = this.liveEntry(run);
    e.connections++;
    e.epoch++;
    this.publishIfChanged(e);
  }

  disconnect(run: string): void {
    const waiting = this.loadGate?.(run);
    if (waiting) {
      void waiting.then(() => this.disconnect(run));
      return;
    }
    const e = this.runs.get(run);
    if (!e || e.source !== 'live') return;
    e.connections = Math.max(0, e.connections - 1);
    if (e.connections === 0) e.file?.close();
    this.publishIfChanged(e);
  }

  /** An uploaded recording, fed message by message; its runs show once it is finished. */
  beginUpload(): UploadSession {
    return new UploadSession(this);
  }

  /** Adds the runs of a recording held in memory (tests, small files). Returns their ids. */
  async addRecording(messages: readonly Message[]): Promise<string[]> {
    const upload = this.beginUpload();
    for (const m of messages) upload.add(m);
    return (await upload.finish()).runs;
  }

  /** @internal */
  publishIfChanged(e: RunEntry, force = false): void {
    const summary = summaryOf(e);
    const key = summaryKey(summary);
    if (!force && key === e.summaryKey) return;
    e.summaryKey = key;
    this.listener?.run(summary);
  }

  /** @internal */
  notifyRuns(): void {
    this.listener?.runs();
  }

  summaries(): RunSummary[] {
    return [...this.runs.values()].map(summaryOf);
  }

  summary(run: string): RunSummary | null {
    const e = this.runs.get(run);
    return e ? summaryOf(e) : null;
  }

  state(run: string): StoredRunState | null {
    return this.runs.get(run)?.state ?? null;
  }

  get size(): number {
    return this.runs.size;
  }

  /**
   * Drops the oldest runs that are not connected: live runs past the per-app limit, uploads past
   * theirs (by upload time, so a recording just uploaded is never the one to go), then anything
   * past the total. @internal
   */
  prune(): void {
    const victims = new Set<RunEntry>();
    const byApp = new Map<string, RunEntry[]>();
    for (const e of this.runs.values()) {
      if (e.source !== 'live') continue;
      const app = appOf(e);
      const list = byApp.get(app);
      if (list) list.push(e);
      else byApp.set(app, [e]);
    }
    for (const list of byApp.values()) {
      if (list.length <= this.maxRunsPerApp) continue;
      const removable = list.filter((e) => e.connections === 0).sort(byArrival);
      for (let i = 0; i < list.length - this.maxRunsPerApp && i < removable.length; i++) victims.add(removable[i]!);
    }
    const uploads = [...this.uploads].sort((a, b) => a.uploadedAt - b.uploadedAt);
    const goneUploads = new Set(uploads.slice(0, Math.max(0, uploads.length - this.maxUploads)));
    let remaining = this.runs.size - victims.size;
    for (const u of goneUploads) remaining -= u.runs.size;
    if (remaining > this.maxRuns) {
      const removable = [...this.runs.values()].filter((e) => e.connections === 0 && !victims.has(e) && !(e.upload && goneUploads.has(e.upload))).sort(byArrival);
      for (let i = 0; remaining > this.maxRuns && i < removable.length; i++) {
        const e = removable[i]!;
        if (e.upload) {
          if (goneUploads.has(e.upload)) continue;
          goneUploads.add(e.upload);
          remaining -= e.upload.runs.size;
        } else {
          victims.add(e);
          remaining--;
        }
      }
    }
    if (victims.size === 0 && goneUploads.size === 0) return;
    for (const e of victims) this.remove(e);
    for (const u of goneUploads) this.removeUpload(u);
    this.listener?.runs();
  }

  /** Finished runs and uploads whose last news is older than the age bound go, files included. */
  pruneByAge(now = Date.now()): void {
    const before = now - this.maxAgeMs;
    let removed = false;
    for (const e of [...this.runs.values()]) {
      if (e.connections > 0 || !this.runs.has(e.id)) continue;
      if (Math.max(e.arrivedAt, e.state.lastTs > now ? 0 : e.state.lastTs) >= before) continue;
      if (e.upload) this.removeUpload(e.upload);
      else this.remove(e);
      removed = true;
    }
    if (removed) this.listener?.runs();
  }

  private deleteLater(file: RunFile | null, names: string[]): void {
    const dir = this.options.dir;
    if (!dir) return;
    for (const n of names) this.folder?.delete(n);
    // Delete after pending writes, or they would recreate the file.
    void (file ? file.idle() : Promise.resolve()).then(() => {
      try {
        removeFiles(dir, names);
      } catch (err) {
        this.diskError(`delete ${names[0]}`, err as NodeJS.ErrnoException);
      }
    });
  }

  /** @internal */
  forget(e: RunEntry): void {
    if (this.runs.get(e.id) === e) this.runs.delete(e.id);
    this.memory -= e.bytes;
    e.bytes = 0;
  }

  private remove(e: RunEntry): void {
    this.forget(e);
    e.file?.close();
    if (e.base) this.deleteLater(e.file, [`${e.base}.ndjson`, `${e.base}.seq`]);
  }

  /** @internal */
  removeUpload(u: Upload): void {
    this.uploads.delete(u);
    for (const e of u.runs) this.forget(e);
    u.runs.clear();
    u.file?.close();
    this.deleteLater(u.file, [`${u.base}.ndjson`]);
  }

  /** Waits for queued disk writes. */
  async flush(): Promise<void> {
    await Promise.all([...this.runs.values()].map((e) => e.file?.idle()));
    await Promise.all([...this.uploads].map((u) => u.file?.idle()));
  }

  close(): void {
    this.closed = true;
    if (this.ageTimer) clearInterval(this.ageTimer);
    for (const e of this.runs.values()) e.file?.close();
    for (const u of this.uploads) u.file?.close();
  }
}
