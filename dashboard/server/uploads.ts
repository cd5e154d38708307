// A recording opened in the dashboard (uploaded from the page, or `--open FILE`): folded message
// by message as the bytes arrive, so an upload costs the bounded state of its runs rather than the
// whole file in memory, and kept in the data folder as one file of its own (`u<ms>-<n>.upload`),
// a namespace no live run's file can enter. Its runs are pruned by upload time, not with the live
// runs of their app: the upload is what the user just asked to see.
import { join } from 'node:path';
import type { Message } from '../../shared/protocol.js';
import { newUploadBase } from './data-folder.js';
import { RunFile } from './persist.js';
import { newEntry, type RunEntry, type Upload } from './run-entry.js';
import type { Store } from './store.js';

/** Runs taken from one recording; the lines of any further run are skipped and counted. */
export const MAX_RUNS_PER_UPLOAD = 100;
/** Parsing waits while this much of an upload's text is queued for the disk. */
const UPLOAD_BACKLOG_CHARS = 1024 * 1024;

export interface UploadOutcome {
  runs: string[];
  /** Messages folded but kept off the disk by its bounds. */
  notWritten: number;
}

export class UploadSession {
  private readonly byRun = new Map<string, RunEntry>();
  readonly upload: Upload;
  private fileBytes = 0;
  private writeError: NodeJS.ErrnoException | null = null;
  private done = false;

  /** base: an existing file being read back (start-up), else a fresh upload's name is made. */
  constructor(
    private readonly store: Store,
    private readonly existing?: { base: string; uploadedAt: number; bytes: number },
  ) {
    const uploadedAt = existing?.uploadedAt ?? Date.now();
    const base = existing?.base ?? newUploadBase(uploadedAt);
    const dir = store.options.dir;
    const folder = store.folder;
    const name = `${base}.ndjson`;
    this.upload = { base, uploadedAt, runs: new Set(), file: null };
    if (existing) {
      this.fileBytes = existing.bytes;
    } else if (dir && folder) {
      this.upload.file = new RunFile(join(dir, name), null, (what, err) => store.diskError(what, err), (size) => {
        this.fileBytes = size;
        folder.set(name, size);
      });
    }
  }

  /** Folds one message; returns why it was left out, or null. */
  add(m: Message): string | null {
    if (this.done) return 'upload already finished';
    let e = this.byRun.get(m.run);
    if (!e) {
      if (this.byRun.size >= MAX_RUNS_PER_UPLOAD) return `more than ${MAX_RUNS_PER_UPLOAD} runs in one recording`;
      e = newEntry(m.run, 'recording', this.upload.uploadedAt);
      e.upload = this.upload;
      this.byRun.set(m.run, e);
    }
    const bounded = this.store.fold(e, m, false);
    this.write(e, bounded.line);
    return null;
  }

  private write(e: RunEntry, line: string): void {
    const file = this.upload.file;
    const folder = this.store.folder;
    if (!file || !folder) return;
    const n = Buffer.byteLength(line);
    // One upload may fill a live run's share of the folder, no more.
    if (this.writeError || this.fileBytes + n > folder.runFileBytes || (!folder.fits(n) && !this.store.makeRoom(n, this.upload))) {
      e.cuts.notWritten++;
      e.cuts.notWrittenBytes += n;
      return;
    }
    this.fileBytes += n;
    folder.set(`${this.upload.base}.ndjson`, this.fileBytes);
    file.append(line, -1, (err) => {
      if (err) this.writeError ??= err;
    });
  }

  /**
   * A promise to wait on while the file's backlog is large: parsing faster than the disk writes
   * would hold the difference in memory and make each coalesced write longer.
   */
  backpressure(): Promise<void> | null {
    const file = this.upload.file;
    return file && file.backlog > UPLOAD_BACKLOG_CHARS ? file.idle() : null;
  }

  /** Shows the runs (replacing an earlier upload's run of the same id) once the file is written. */
  async finish(): Promise<UploadOutcome> {
    this.done = true;
    await this.upload.file?.idle();
    const { store, upload } = this;
    if (this.byRun.size === 0) {
      // A fresh upload of nothing leaves nothing; a file read back keeps its bytes all the same.
      if (!this.existing) this.abort();
      return { runs: [], notWritten: 0 };
    }
    store.uploads.add(upload);
    let notWritten = 0;
    for (const [run, e] of this.byRun) {
      const id = store.recordingId(run);
      const earlier = store.runs.get(id);
      if (earlier?.upload) {
        earlier.upload.runs.delete(earlier);
        store.forget(earlier);
        if (earlier.upload.runs.size === 0) store.removeUpload(earlier.upload);
      }
      e.id = id;
      e.state.run = id;
      upload.runs.add(e);
      store.runs.set(id, e);
      notWritten += e.cuts.notWritten;
      store.publishIfChanged(e, true);
    }
    store.prune();
    return { runs: [...upload.runs].map((e) => e.id), notWritten };
  }

  /** Drops what was folded and the file (a refused or broken upload leaves nothing behind). */
  abort(): void {
    this.done = true;
    for (const e of this.byRun.values()) this.store.forget(e);
    this.byRun.clear();
    this.store.removeUpload(this.upload);
  }
}
