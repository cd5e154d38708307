// Sees the main thread's heartbeat stop and turns it into block messages: one as soon as it is
// detected (ended=false, with the live stack), one every second while it lasts, and a final one
// when the heartbeat comes back, with the exact start and duration the main thread measured.
import type { BlockEvent, CallbackResource, Frame } from '../../shared/protocol.js';
import { I, F, epochNow } from '../shared-state.js';
import type { MeasuredBlock, WorkerInit } from '../worker-messages.js';
import { abandonCapture, NATIVE_AFTER_MS, type CaptureOutcome } from './capture.js';
import { inferResource } from './entry-frames.js';
import { isInternalFile } from '../../shared/stack.js';

const POLL_MS = 10;
/** A block whose first capture has not answered by then is announced without its stack. */
const ANNOUNCE_MS = NATIVE_AFTER_MS;
/** While a block lasts, its progress is re-sent this often, so a dashboard shows it growing. */
const PROGRESS_MS = 1000;
/** How long an ended block waits for the main thread's measurement before using its own. */
const MEASURE_WAIT_MS = 200;
/**
 * A capture with no answer in time is retried this soon, a few times: on a loaded machine a main
 * thread running JS can be off the CPU for longer than the native cut-off, and a second try tells
 * it from native code. Later tries come with the progress messages.
 */
const RETRY_MS = 30;
const QUICK_RETRIES = 5;
/**
 * A live stack from a retry is only believed once the block is seen to go on this long after it:
 * the heartbeat that ends a block comes up to a period after the native call returned, and a
 * capture in that gap shows whatever ran after the call, not what blocked.
 */
const CONFIRM_MS = 50;

type LiveCapture = Extract<CaptureOutcome, { kind: 'live' }>;

type SyncCall = BlockEvent['syncCall'];

interface OpenBlock {
  id: number;
  /** The last heartbeat before the block: within one heartbeat of its true start. */
  startedAt: number;
  seq: number;
  capturing: boolean;
  captures: number;
  lastCaptureAt: number;
  /** The first message (ended=false) went out. */
  announced: boolean;
  /** A message with the live stack went out. */
  liveSent: boolean;
  lastEmitAt: number;
  native: boolean;
  stackKind: 'live' | 'none';
  stack: Frame[];
  resource: CallbackResource | null;
  syncCall: SyncCall;
  captureMs: number | null;
  appSpan: BlockEvent['appSpan'];
  /** Heartbeat time that ended it, and when this worker saw that. */
  endedAt: number | null;
  endSeenAt: number;
  measured: MeasuredBlock | null;
  /** A live stack from a retry, waiting for the block to outlast it (CONFIRM_MS). */
  candidate: LiveCapture | null;
  /** The time of the heartbeat that ended it, when the worker saw that one itself. */
  endBeatAt: number | null;
}

export interface WatchdogDeps {
  init: WorkerInit;
  emit(block: BlockEvent): void;
  capture(): Promise<CaptureOutcome>;
  warn(message: string): void;
}

export class Watchdog {
  private timer: NodeJS.Timeout | null = null;
  private nextId = 1;
  private open: OpenBlock | null = null;
  /** The last finished block, so a late measurement corrects it instead of adding a second block. */
  private last: BlockEvent | null = null;
  /** After a flush (the main thread is exiting), no new block until the heartbeat moves again. */
  private quietUntilSeqChanges: number | null = null;
  private stopped = false;
  private readonly threshold: number;

  constructor(private readonly deps: WatchdogDeps) {
    this.threshold = deps.init.config.blockThresholdMs;
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.schedule(POLL_MS);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * Each wake-up of a thread costs ~50-100 µs of CPU on a small VM, so with no block open the
   * watchdog sleeps until the moment the threshold would pass if no heartbeat came (normally a
   * heartbeat has come by then, and it sleeps again): ~1000/threshold wake-ups a second instead
   * of 1000/POLL_MS, detection as early as before. An open block is followed every POLL_MS.
   */
  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.poll();
      if (!this.stopped) this.schedule(this.nextDelay());
    }, delayMs);
  }

  private nextDelay(): number {
    if (this.open || this.quietUntilSeqChanges !== null || this.exiting()) return POLL_MS;
    if (Atomics.load(this.i32, I.beatSeq) === 0) return POLL_MS;
    const beatAt = this.deps.init.f64[F.beatAt];
    if (beatAt === undefined) return POLL_MS;
    // +1: wake just after the threshold is crossed, not just before it
    const due = beatAt + this.threshold + 1 - epochNow();
    return Math.max(POLL_MS, Math.min(due, this.threshold));
  }

  private get i32(): Int32Array {
    return this.deps.init.i32;
  }

  poll(): void {
    try {
      this.pollUnsafe();
    } catch (err) {
      this.deps.warn(`block watchdog failed: ${(err as Error).message}`);
    }
  }

  private pollUnsafe(): void {
    const seq = Atomics.load(this.i32, I.beatSeq);
    if (seq === 0) return; // the loop has not started: module loading is not a block
    const now = epochNow();
    const open = this.open;
    if (open) {
      if (open.endedAt === null && seq !== open.seq) {
        open.endedAt = this.deps.init.f64[F.beatAt] ?? now;
        if (seq === open.seq + 1) open.endBeatAt = open.endedAt;
        open.endSeenAt = now;
      }
      if (open.capturing) {
        // A capture waiting for a starved main thread must not hold back the news of the block:
        // it is announced without a stack, and again with it when the answer comes.
        if (!open.announced && open.endedAt === null && now - open.lastCaptureAt >= ANNOUNCE_MS) this.emitProgress(open, now);
        return;
      }
      if (open.endedAt !== null) {
        // The main thread measures a stall as a block only for its active time: one that was off
        // the CPU (a starved machine) sends no measurement. If the heartbeat stops again in the
        // meantime, that is the next block, and it must not wait for this one's measurement.
        const stoppedAgain = now - (this.deps.init.f64[F.beatAt] ?? now) > this.threshold;
        if (now - open.endSeenAt < MEASURE_WAIT_MS && !stoppedAgain) return;
        this.finish(open, null);
        if (!stoppedAgain) return;
        // on to open the next block
      } else {
        this.followOpen(open, now);
        return;
      }
    }
    if (this.exiting()) return;
    if (this.quietUntilSeqChanges !== null) {
      if (seq === this.quietUntilSeqChanges) return;
      this.quietUntilSeqChanges = null;
    }
    const beatAt = this.deps.init.f64[F.beatAt] ?? now;
    if (now - beatAt > this.threshold) this.openBlock(seq, beatAt, now);
  }

  /** An open block whose heartbeat has not come back: confirm a candidate stack, or try again. */
  private followOpen(open: OpenBlock, now: number): void {
    if (open.candidate && now - open.candidate.evaluatedAt >= CONFIRM_MS) {
      this.acceptLive(open, open.candidate);
      this.emitProgress(open, now);
      return;
    }
    // (inside a wrapped *Sync call a retry can only meet the same native code; after a flush the
    // main thread is most likely exiting, and a connected session would hold up its exit)
    const retry =
      open.stackKind === 'none' &&
      !open.candidate &&
      !this.exiting() &&
      this.quietUntilSeqChanges === null &&
      Atomics.load(this.i32, I.syncApi) === 0;
    if (now - open.lastEmitAt >= PROGRESS_MS) {
      this.emitProgress(open, now);
      if (retry) this.startCapture(open, now);
    } else if (retry && open.captures <= QUICK_RETRIES && now - open.lastCaptureAt >= RETRY_MS) {
      this.startCapture(open, now);
    }
  }

  private exiting(): boolean {
    return Atomics.load(this.i32, I.exiting) !== 0;
  }

  private syncCallNow(): SyncCall {
    const slot = Atomics.load(this.i32, I.syncApi);
    if (slot <= 0) return null;
    const api = this.deps.init.syncApis[slot - 1];
    return api ? { api, createdAt: null } : null;
  }

  private openBlock(seq: number, beatAt: number, now: number): void {
    const block: OpenBlock = {
      id: this.nextId++,
      startedAt: beatAt,
      seq,
      capturing: false,
      captures: 0,
      lastCaptureAt: now,
      announced: false,
      liveSent: false,
      lastEmitAt: now,
      native: false,
      stackKind: 'none',
      stack: [],
      resource: null,
      syncCall: this.syncCallNow(),
      captureMs: null,
      appSpan: null,
      endedAt: null,
      endSeenAt: 0,
      measured: null,
      candidate: null,
      endBeatAt: null,
    };
    this.open = block;
    // Inside a wrapped *Sync call the main thread is in native code: an answer would only come
    // once it returned, from whatever ran next. Retried once the call is over (poll).
    if (block.syncCall) {
      block.native = true;
      this.emitProgress(block, now);
      return;
    }
    this.startCapture(block, now);
  }

  private startCapture(block: OpenBlock, now: number): void {
    block.capturing = true;
    block.captures++;
    block.lastCaptureAt = now;
    let capture: Promise<CaptureOutcome>;
    try {
      capture = this.deps.capture();
    } catch (err) {
      capture = Promise.resolve({ kind: 'failed', reason: (err as Error).message });
    }
    void capture.then(
      (outcome) => this.captured(block, outcome),
      (err: unknown) => this.captured(block, { kind: 'failed', reason: String(err) }),
    );
  }

  private captured(block: OpenBlock, outcome: CaptureOutcome): void {
    try {
      block.capturing = false;
      // An answer evaluated after the block's end may describe the code that ran after it: it is
      // not a live stack, so it is not shown as one. (The answer itself may come later: the
      // worker too waits for a CPU on a loaded machine.)
      const end = this.endOf(block);
      const inBlock = outcome.kind === 'live' && end !== null && outcome.evaluatedAt < end;
      // The heartbeat moved on more than once before this worker read the answer: which beat
      // ended the block is known once the main thread's measurement comes (finish).
      const endUnknown = outcome.kind === 'live' && end === null;
      // A stack with none of the app's frames (empty, or Node dispatching a callback) means the
      // thread was held up between callbacks (a machine short of CPU), not blocked by app code:
      // not shown, and tried again, since the block may go on into the app's code.
      const appCode = outcome.kind === 'live' && outcome.stack.some((f) => !isInternalFile(f.file));
      if (outcome.kind === 'live' && (inBlock || endUnknown) && appCode) {
        // After a try that met native code, a retry's answer may come from just after the native
        // call returned: held until the block is seen to go on (poll, finish). Otherwise it is live.
        if (block.native || endUnknown) block.candidate = outcome;
        else this.acceptLive(block, outcome);
      } else if (outcome.kind === 'live') {
        // after the heartbeat moved, or no app code on the stack: not the block's code
      } else if (outcome.kind === 'unanswered') {
        // the machine is too short of CPU to tell: neither live nor native, tried again (poll)
      } else if (outcome.kind === 'native') {
        block.native = true;
        block.syncCall = block.syncCall ?? this.syncCallNow();
      } else if (outcome.kind === 'failed') {
        block.captures = Math.max(block.captures, QUICK_RETRIES + 1); // only the slow retries
        this.deps.warn(`cannot capture the main thread's stack (${outcome.reason}); blocks are reported without it`);
      }
      if (this.open !== block) return;
      if (block.measured) {
        this.finish(block, block.measured);
        return;
      }
      // (announced already without a stack: the live one goes out now, not with the next progress)
      if (block.endedAt === null && (!block.announced || (block.stackKind === 'live' && !block.liveSent))) {
        this.emitProgress(block, epochNow());
      }
    } catch (err) {
      this.deps.warn(`block capture failed: ${(err as Error).message}`);
    }
  }

  /**
   * When the block ended, on the main thread's clock: Infinity while it lasts, null when the
   * heartbeat has moved on more than once and the worker did not see which beat ended it.
   */
  private endOf(block: OpenBlock): number | null {
    if (block.measured) return block.measured.startedAt + block.measured.durationMs;
    if (block.endBeatAt !== null) return block.endBeatAt;
    const seq = Atomics.load(this.i32, I.beatSeq);
    if (seq === block.seq) return Infinity;
    // (the heartbeat stores its time before it moves the sequence on)
    if (seq === block.seq + 1) return this.deps.init.f64[F.beatAt] ?? null;
    return null;
  }

  private acceptLive(block: OpenBlock, live: LiveCapture): void {
    // JS was running: an earlier try that timed out met a thread that was off the CPU, or in a
    // native call that has since returned while the block went on.
    block.candidate = null;
    block.native = false;
    block.stackKind = 'live';
    block.stack = live.stack;
    block.captureMs = live.captureMs;
    block.appSpan = live.appSpan;
    block.resource = live.resource ?? inferResource(live.stack, live.complete);
  }

  private message(block: OpenBlock, ended: boolean, startedAt: number, durationMs: number): BlockEvent {
    const event: BlockEvent = {
      type: 'block',
      run: this.deps.init.run,
      ts: epochNow(),
      id: block.id,
      startedAt,
      durationMs: Math.max(0, durationMs),
      ended,
      native: block.native,
      stackKind: block.stackKind,
      stack: block.stack,
      resource: block.resource,
      syncCall: block.syncCall,
      captureMs: block.captureMs,
    };
    if (block.appSpan) event.appSpan = block.appSpan;
    return event;
  }

  private emitProgress(block: OpenBlock, now: number): void {
    block.announced = true;
    if (block.stackKind === 'live') block.liveSent = true;
    block.lastEmitAt = now;
    this.deps.emit(this.message(block, false, block.startedAt, now - block.startedAt));
  }

  private finish(block: OpenBlock, measured: MeasuredBlock | null): void {
    const candidate = block.candidate;
    const end = measured ? measured.startedAt + measured.durationMs : this.endOf(block);
    // (after native code, the block must have gone on a while after the answer; otherwise the
    // answer only has to come from before the block's end)
    if (candidate && end !== null && end - candidate.evaluatedAt >= (block.native ? CONFIRM_MS : 1e-3)) {
      this.acceptLive(block, candidate);
    }
    if (this.open === block) this.open = null;
    const startedAt = measured?.startedAt ?? block.startedAt;
    const endedAt = block.endedAt ?? epochNow();
    const durationMs = measured?.durationMs ?? endedAt - block.startedAt;
    if (measured?.syncCall) {
      block.syncCall = measured.syncCall;
      if (block.stackKind === 'none') block.native = true;
    }
    const event = this.message(block, true, startedAt, durationMs);
    this.last = event;
    this.deps.emit(event);
  }

  /** The main thread measured a stretch over the threshold (from its event-loop active time). */
  onMeasured(measured: MeasuredBlock): void {
    try {
      const end = measured.startedAt + measured.durationMs;
      const open = this.open;
      // The stretch that ended this block ends at a heartbeat after the one the block opened on;
      // an earlier, shorter block ends at or before it.
      if (open && end > open.startedAt + 1e-3) {
        open.measured = measured;
        if (open.endedAt === null) {
          open.endedAt = end;
          open.endSeenAt = epochNow();
        }
        if (!open.capturing) this.finish(open, measured);
        return;
      }
      const last = this.last;
      if (last && end > last.startedAt + 1e-3 && measured.startedAt < last.startedAt + last.durationMs) {
        // It came after the watchdog gave up waiting: correct that block, same id.
        const corrected: BlockEvent = { ...last, ts: epochNow(), startedAt: measured.startedAt, durationMs: measured.durationMs };
        if (measured.syncCall) corrected.syncCall = measured.syncCall;
        this.last = corrected;
        this.deps.emit(corrected);
        return;
      }
      // Just over the threshold and over before the watchdog looked: no stack, but still a block.
      const event: BlockEvent = {
        type: 'block',
        run: this.deps.init.run,
        ts: epochNow(),
        id: this.nextId++,
        startedAt: measured.startedAt,
        durationMs: measured.durationMs,
        ended: true,
        native: measured.syncCall !== null,
        stackKind: 'none',
        stack: [],
        resource: null,
        syncCall: measured.syncCall,
        captureMs: null,
      };
      this.last = event;
      this.deps.emit(event);
    } catch (err) {
      this.deps.warn(`block measurement failed: ${(err as Error).message}`);
    }
  }

  /**
   * The main thread asked for a flush: it is most likely exiting. A capture still waiting is
   * abandoned, a block waiting for its measurement is finished now, one still running gets its
   * duration so far, and no new block is opened (nor the inspector touched) until the heartbeat
   * moves again.
   */
  onFlush(): void {
    try {
      // before the flush is acknowledged and the main thread goes on to exit
      abandonCapture();
      this.quietUntilSeqChanges = Atomics.load(this.i32, I.beatSeq);
      const open = this.open;
      if (!open) return;
      // (the abandoned capture's outcome comes later and finds the block closed or announced)
      open.capturing = false;
      if (open.measured || open.endedAt !== null) this.finish(open, open.measured);
      else this.emitProgress(open, epochNow());
    } catch (err) {
      this.deps.warn(`block watchdog failed at flush: ${(err as Error).message}`);
    }
  }
}
