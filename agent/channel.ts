// Main thread -> worker. Records are stamped and batched here and posted as one structured-clone
// message per batch; at exit the main thread waits on shared memory until the worker confirms
// the last batch is written (bounded), because after 'exit' there is no event loop to wait on.
// When the worker cannot confirm (not up yet, stuck), the recording's last records are written by
// the main thread itself (agent/main-recording.ts).
import type { Worker } from 'node:worker_threads';
import { I, epochNow, type SharedState } from './shared-state.js';
import type { Message, Unstamped } from '../shared/protocol.js';
import type { ToWorker } from './worker-messages.js';
import type { MainRecording } from './main-recording.js';
import { captured } from './captured.js';

/** Past this many unsent records (a worker that cannot keep up or died) the oldest are dropped. */
const MAX_PENDING = 20_000;

export class RecordChannel {
  private pending: Message[] = [];
  private flushSeq = 0;
  private batchSeq = 0;
  private alive: boolean;
  private dropped = 0;

  constructor(
    private readonly worker: Worker | null,
    private readonly shared: SharedState,
    private readonly run: string,
    /** Set when the main thread wrote the recording's hello: it can finish the file at exit. */
    private readonly recording: MainRecording | null = null,
    /** The worker has sinks besides the recording (dashboard, OTel) that only it can serve. */
    private readonly otherSinks = true,
  ) {
    this.alive = worker !== null;
  }

  push(message: Unstamped, urgent = false): void {
    this.pushStamped({ ...message, run: this.run, ts: epochNow() } as Message, urgent);
  }

  /** A message already stamped with run and ts (the hello, which is also written at start). */
  pushStamped(message: Message, urgent = false): void {
    if (!this.alive) return;
    if (this.pending.length >= MAX_PENDING) {
      this.pending.shift();
      this.dropped++;
    }
    this.pending.push(message);
    if (urgent) this.flush();
  }

  flush(flushSeq?: number): void {
    if (!this.alive || !this.worker) return;
    if (this.dropped > 0) {
      this.pending.unshift({
        type: 'notice',
        run: this.run,
        ts: epochNow(),
        level: 'warn',
        code: 'main-queue-overflow',
        message: `${this.dropped} records dropped before reaching the agent worker`,
        count: this.dropped,
      });
      this.dropped = 0;
    }
    if (this.pending.length === 0 && flushSeq === undefined) return;
    const records = this.pending;
    this.pending = [];
    const msg: ToWorker = { kind: 'records', records };
    if (records.length > 0) {
      msg.batch = ++this.batchSeq;
      this.recording?.keep(msg.batch, records);
    }
    if (flushSeq !== undefined) msg.flushSeq = flushSeq;
    try {
      this.worker.postMessage(msg);
    } catch {
      // a record that cannot be cloned is lost, never thrown into the app
    }
  }

  /** Returns true when the worker confirmed the write within timeoutMs. */
  flushSync(timeoutMs: number): boolean {
    if (!this.alive) return false;
    const seq = ++this.flushSeq;
    this.flush(seq);
    return this.waitForAck(seq, timeoutMs);
  }

  /**
   * The last flush, on the way out (the 'exit' event, stop()): like flushSync, and the recording
   * is complete afterwards even if the worker could not write it. A worker that has not started
   * yet is not waited for on the recording's account (the main thread writes it at once); only
   * the dashboard or OTel export, which nothing else can send, are worth the bounded wait then.
   */
  flushFinal(timeoutMs: number): boolean {
    if (!this.alive) return false;
    const seq = ++this.flushSeq;
    this.flush(seq);
    const recording = this.recording;
    if (recording && Atomics.load(this.shared.i32, I.workerReady) === 0) {
      const written = recording.writeRest(this.run);
      if (!this.otherSinks) return written;
    }
    const confirmed = this.waitForAck(seq, timeoutMs);
    if (recording && !recording.allWritten) return recording.writeRest(this.run) && confirmed;
    return confirmed;
  }

  private waitForAck(seq: number, timeoutMs: number): boolean {
    const deadline = captured.perfNow() + timeoutMs;
    const i32 = this.shared.i32;
    for (;;) {
      const acked = Atomics.load(i32, I.flushAck);
      if (acked >= seq) return true;
      const left = deadline - captured.perfNow();
      if (left <= 0 || !this.alive) return false;
      Atomics.wait(i32, I.flushAck, acked, left);
    }
  }

  workerGone(): void {
    this.alive = false;
    this.pending = [];
  }
}
