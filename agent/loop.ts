// Event-loop delay and utilisation per interval: perf_hooks' histogram (a native uv timer that
// does not keep the process alive: measured, it is absent from getActiveResourcesInfo and a
// process with only the histogram enabled exits) and eventLoopUtilization deltas.
import { monitorEventLoopDelay, type IntervalHistogram, type EventLoopUtilization } from 'node:perf_hooks';
import type { AgentContext } from './context.js';
import type { DelaySummary, LoopSample, Unstamped } from '../shared/protocol.js';
import { captured } from './captured.js';

/** Histogram resolution (ms): finer costs more wake-ups; 10 ms is what the brief measured at ~1.00. */
const RESOLUTION_MS = 10;

const NS_PER_MS = 1e6;

/**
 * The histogram records the time between its timer's firings, so an idle loop reads ~10 ms; the
 * delay reported is what is left after the resolution (0 for an idle loop).
 */
function ms(ns: number): number {
  if (!Number.isFinite(ns) || ns <= 0) return 0;
  const late = ns / NS_PER_MS - RESOLUTION_MS;
  return late > 0 ? Math.round(late * 1000) / 1000 : 0;
}

/** A stall the heartbeat saw is worth checking against the histogram from this long on (ms). */
const STALL_MS = 50;

/**
 * The histogram's statistics with one more sample, larger than all of them: the percentile of
 * rank r among n + 1 samples is the one of rank r among the first n while r <= n.
 */
function withOneLarger(h: IntervalHistogram, lateMs: number): DelaySummary {
  const n = h.count;
  if (n === 0) return { minMs: lateMs, meanMs: lateMs, p50Ms: lateMs, p90Ms: lateMs, p99Ms: lateMs, maxMs: lateMs };
  const at = (p: number): number => {
    const rank = Math.ceil((p / 100) * (n + 1));
    return rank > n ? lateMs : ms(h.percentile(Math.min(100, (rank / n) * 100)));
  };
  return {
    minMs: ms(h.min),
    meanMs: Math.round(((ms(h.mean) * n + lateMs) / (n + 1)) * 1000) / 1000,
    p50Ms: at(50),
    p90Ms: at(90),
    p99Ms: at(99),
    maxMs: lateMs,
  };
}

export class LoopSampler {
  private histogram: IntervalHistogram | null = null;
  private lastElu: EventLoopUtilization | null = null;
  private lastAt = 0;
  /** The longest lateness of the heartbeat since the last sample (ms). */
  private stallMs = 0;

  /** `heartbeatMs`: the period of the heartbeat whose gaps noteGap() receives. */
  constructor(
    private readonly ctx: AgentContext,
    private readonly heartbeatMs = 20,
  ) {}

  /**
   * A gap between two heartbeat ticks. Needed because the histogram records a stall only when its
   * own timer next fires, in the loop turn after the stall, and a reset() in between (a sample
   * taken first: the interval fell due during the stall) drops that measurement altogether: a
   * 500 ms block then read as 0.4 ms of delay. The heartbeat saw it; sample() puts it back.
   */
  noteGap(gapMs: number): void {
    const late = gapMs - this.heartbeatMs;
    if (late > this.stallMs) this.stallMs = late;
  }

  start(): void {
    if (this.histogram) return;
    try {
      this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
      this.histogram.enable();
    } catch (err) {
      this.histogram = null;
      this.ctx.warn(`event-loop delay is not measured (${(err as Error).message})`);
    }
    this.lastElu = captured.eventLoopUtilization();
    this.lastAt = captured.perfNow();
  }

  stop(): void {
    try {
      this.histogram?.disable();
    } catch {
      // already off
    }
    this.histogram = null;
  }

  /** Delay percentiles (ms) and utilisation since the previous sample; resets the histogram. */
  sample(): Unstamped<LoopSample> {
    const now = captured.perfNow();
    const intervalMs = this.lastAt > 0 ? Math.round((now - this.lastAt) * 1000) / 1000 : 0;
    this.lastAt = now;
    let utilization = 0;
    try {
      const elu = captured.eventLoopUtilization();
      const delta = this.lastElu ? captured.eventLoopUtilization(elu, this.lastElu) : elu;
      this.lastElu = elu;
      utilization = Number.isFinite(delta.utilization) ? Math.min(1, Math.max(0, delta.utilization)) : 0;
    } catch {
      utilization = 0;
    }
    let delay: DelaySummary = { minMs: 0, meanMs: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0 };
    const h = this.histogram;
    const stall = Math.round(this.stallMs * 1000) / 1000;
    this.stallMs = 0;
    // Lost by the histogram: it saw nothing near as long as the stall the heartbeat measured.
    if (h && stall >= STALL_MS && ms(h.max) < stall / 2) {
      delay = withOneLarger(h, stall);
      h.reset();
    } else if (h && h.count > 0) {
      delay.minMs = ms(h.min);
      delay.meanMs = ms(h.mean);
      delay.p50Ms = ms(h.percentile(50));
      delay.p90Ms = ms(h.percentile(90));
      delay.p99Ms = ms(h.percentile(99));
      delay.maxMs = ms(h.max);
      h.reset();
    }
    return { type: 'loop', intervalMs, delay, utilization };
  }
}
