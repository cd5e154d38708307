// Main thread -> worker. Records are stamped and batched here and posted as one structured-clone
// message per batch; at exit the main thread waits on shared memory until the worker confirms
// the last batch is written (bounded), because after 'exit' there is no event loop to wait on.
import type { Worker } from 'node:worker_threads';
import { I, epochNow, type SharedState } from './shared-state.js';
import type { Message, Unstamped } from '../shared/protocol.js';
import type { ToWorker } from './worker-messages.js';
import { captured } from './captured.js';

/** Past this many unsent records (a worker that cannot keep up or died) the oldest are dropped. */
const MAX_PENDING = 20_000;

export class RecordChannel {
  private pending: Message[] = [];
  private flushSeq = 0;
  private alive: boolean;
  private dropped = 0;

  constructor(
    private readonly worker: Worker | null,
    private readonly shared: SharedState,
    private readonly run: string,
  ) {
    this.alive = worker !== null;
  }

  push(message: Unstamped, urgent = false): void {
    if (!this.alive) return;
    if (this.pending.length >= MAX_PENDING) {
      this.pending.shift();
      this.dropped++;
    }
    this.pending.push({ ...message, run: this.run, ts: epochNow() } as Message);
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
    const msg: ToWorker = flushSeq === undefined ? { kind: 'records', records } : { kind: 'records', records, flushSeq };
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
