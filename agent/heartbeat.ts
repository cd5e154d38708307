// The main thread's pulse. Every tick stores a timestamp for the worker's watchdog and measures
// the stretch since the previous tick: the loop's active time in that stretch (from libuv's own
// idle accounting) is how long the main thread stayed away, to the millisecond, without hooks.
import { I, F, epochNow, type SharedState } from './shared-state.js';
import { captured } from './captured.js';

export interface MeasuredStretch {
  startedAt: number;
  durationMs: number;
}

export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;
  private lastAt = 0;
  private lastActive = 0;

  constructor(
    private readonly shared: SharedState,
    private readonly periodMs: number,
    private readonly thresholdMs: number,
    private readonly onBlock: (stretch: MeasuredStretch) => void,
    /** Each gap between two of the timer's own ticks (not the extra ticks of start-up and exit). */
    private readonly onGap: (gapMs: number) => void = () => undefined,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = captured.setInterval(() => this.tick(true), this.periodMs);
    this.timer.unref();
    // Started from a preload, the first tick would come after the loop's first turn and take it as
    // the baseline: a block in a setTimeout(fn, 0) would go unseen. A tick queued now runs once the
    // main script has run (CommonJS), so the first turn is measured from there.
    captured.nextTick(() => {
      if (this.lastAt === 0) this.tick();
    });
  }

  stop(): void {
    if (this.timer) captured.clearInterval(this.timer);
    this.timer = null;
  }

  /** Public so the exit path can take a last measurement; `periodic` for the timer's own ticks. */
  tick(periodic = false): void {
    const now = epochNow();
    const active = captured.eventLoopUtilization().active;
    const { lastAt, lastActive } = this;
    this.lastAt = now;
    this.lastActive = active;
    this.shared.f64[F.beatAt] = now;
    Atomics.add(this.shared.i32, I.beatSeq, 1);
    // The first tick only sets the baseline: before it the loop had not started (module loading).
    if (lastAt === 0) return;
    const gap = now - lastAt;
    if (periodic) {
      try {
        this.onGap(gap);
      } catch {
        // as below
      }
    }
    if (gap < this.thresholdMs) return;
    const away = Math.min(gap, active - lastActive);
    if (away >= this.thresholdMs) {
      try {
        this.onBlock({ startedAt: now - away, durationMs: away });
      } catch {
        // never let the agent's bookkeeping throw into the app's timer phase
      }
    }
  }
}
