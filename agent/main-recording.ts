// The main thread's part in the recording (see agent/recording-file.ts for the handover): the hello
// written synchronously at start, and a copy of the batches handed to the worker that it has not
// yet confirmed writing, so that an exit before the worker is up (or while it is stuck) still puts
// the final records in the file. Off the hot path: one small write at start, an Atomics.load and an
// array push per batch, and the write itself only on the way out.
import type { Message, Notice } from '../shared/protocol.js';
import { appendSync, lastBatchWritten, mainTakeOver } from './recording-file.js';
import { epochNow, type SharedState } from './shared-state.js';

/**
 * Messages kept for the exit at most. The worker confirms a batch within milliseconds of getting
 * it; this only fills while it is not up, at a few messages per interval: minutes of a slow start.
 */
const MAX_KEPT = 500;
/** How long the exit waits for a write of the worker's in progress before taking the file (ms). */
const TAKE_OVER_WAIT_MS = 200;

interface Batch {
  batch: number;
  records: readonly Message[];
}

export class MainRecording {
  private kept: Batch[] = [];
  private keptCount = 0;
  /** Batches let go past MAX_KEPT (number, message count): missing only if the worker never wrote them. */
  private dropped: Array<[number, number]> = [];
  private done = false;

  private constructor(
    readonly path: string,
    private readonly shared: SharedState,
  ) {}

  /**
   * Writes the hello line; null when the file cannot be written (the worker tries again and says
   * why, once: one warning, from one place).
   */
  static start(path: string, hello: Message, shared: SharedState): MainRecording | null {
    try {
      appendSync(path, JSON.stringify(hello) + '\n');
      return new MainRecording(path, shared);
    } catch {
      return null;
    }
  }

  /** A batch just handed to the worker; kept until the worker says it is in the file. */
  keep(batch: number, records: readonly Message[]): void {
    if (this.done) return;
    this.forgetWritten();
    this.kept.push({ batch, records });
    this.keptCount += records.length;
    while (this.keptCount > MAX_KEPT && this.kept.length > 1) {
      const old = this.kept.shift()!;
      this.keptCount -= old.records.length;
      this.dropped.push([old.batch, old.records.length]);
      // Bounded too: merged into the next, counted under the later number (a count, not a list).
      if (this.dropped.length > MAX_KEPT) {
        const [, n] = this.dropped.shift()!;
        this.dropped[0]![1] += n;
      }
    }
  }

  private forgetWritten(): void {
    const written = lastBatchWritten(this.shared);
    while (this.kept.length > 0 && this.kept[0]!.batch <= written) this.keptCount -= this.kept.shift()!.records.length;
    while (this.dropped.length > 0 && this.dropped[0]![0] <= written) this.dropped.shift();
  }

  /** Everything handed over is in the file (by the worker), as far as the main thread knows. */
  get allWritten(): boolean {
    this.forgetWritten();
    return this.kept.length === 0 && this.dropped.length === 0;
  }

  /**
   * Exit only: takes the file from the worker for good and writes what it has not, in the format
   * it would have used. Returns true when the file holds every record handed over.
   */
  writeRest(run: string): boolean {
    if (this.done) return true;
    if (!mainTakeOver(this.shared, TAKE_OVER_WAIT_MS)) return false;
    this.done = true;
    this.forgetWritten();
    let text = '';
    const missing = this.dropped.reduce((sum, [, n]) => sum + n, 0);
    if (missing > 0) text += JSON.stringify(this.gapNotice(run, missing)) + '\n';
    for (const { records } of this.kept) {
      for (const m of records) {
        // The hello is in the file since the start.
        if (m.type === 'hello') continue;
        try {
          text += JSON.stringify(m) + '\n';
        } catch {
          // a value JSON cannot hold: the worker would have dropped it too
        }
      }
    }
    this.kept = [];
    this.keptCount = 0;
    if (!text) return true;
    try {
      appendSync(this.path, text);
      return true;
    } catch {
      return false;
    }
  }

  private gapNotice(run: string, missing: number): Notice {
    return {
      type: 'notice',
      run,
      ts: epochNow(),
      level: 'warn',
      code: 'recording-gap',
      message: `${missing} messages are missing from the recording here (the agent worker had not written them when the process ended)`,
      count: missing,
    };
  }
}
