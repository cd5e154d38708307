// Protocol messages -> metric instruments. Semantic-convention names where OTel defines one
// (nodejs.eventloop.*, delays in seconds), loopscope.* otherwise. Time counters are in seconds,
// the OTel unit for durations, so `rate()` of them reads as "fraction of time blocked".
import type { Attributes, Counter, Meter, ObservableResult } from '@opentelemetry/api';
import type { Message, Unstamped } from '../../../shared/protocol.js';

export const METRIC_NAMES = {
  delayMin: 'nodejs.eventloop.delay.min',
  delayMax: 'nodejs.eventloop.delay.max',
  delayMean: 'nodejs.eventloop.delay.mean',
  delayP50: 'nodejs.eventloop.delay.p50',
  delayP90: 'nodejs.eventloop.delay.p90',
  delayP99: 'nodejs.eventloop.delay.p99',
  utilization: 'nodejs.eventloop.utilization',
  resourcesLive: 'loopscope.resources.live',
  resourcesCreated: 'loopscope.resources.created',
  blockedTime: 'loopscope.eventloop.blocked.time',
  blocks: 'loopscope.eventloop.blocks',
  syncioTime: 'loopscope.syncio.time',
  syncioCalls: 'loopscope.syncio.calls',
} as const;

/** Distinct resource types / sync APIs reported at most: attribute values are the app's, so bound them. */
const MAX_KEYS = 200;

export class MetricsRecorder {
  private delay: { min: number; max: number; mean: number; p50: number; p90: number; p99: number } | null = null;
  private utilization: number | null = null;
  /** Last live count per type; a type that vanished reads 0 rather than its stale count. */
  private readonly live = new Map<string, number>();
  private readonly resourcesCreated: Counter;
  private readonly blockedTime: Counter;
  private readonly blocks: Counter;
  private readonly syncioTime: Counter;
  private readonly syncioCalls: Counter;
  private readonly blocksCounted = new Set<number>();
  private readonly syncApis = new Set<string>();
  private readonly createdTypes = new Set<string>();

  constructor(meter: Meter) {
    const delayGauge = (name: string, pick: (d: NonNullable<MetricsRecorder['delay']>) => number, what: string): void => {
      meter
        .createObservableGauge(name, { unit: 's', description: `Event loop delay: ${what} over the last interval.` })
        .addCallback((r: ObservableResult) => {
          if (this.delay) r.observe(pick(this.delay));
        });
    };
    delayGauge(METRIC_NAMES.delayMin, (d) => d.min, 'minimum');
    delayGauge(METRIC_NAMES.delayMax, (d) => d.max, 'maximum');
    delayGauge(METRIC_NAMES.delayMean, (d) => d.mean, 'mean');
    delayGauge(METRIC_NAMES.delayP50, (d) => d.p50, '50th percentile');
    delayGauge(METRIC_NAMES.delayP90, (d) => d.p90, '90th percentile');
    delayGauge(METRIC_NAMES.delayP99, (d) => d.p99, '99th percentile');
    meter
      .createObservableGauge(METRIC_NAMES.utilization, { unit: '1', description: 'Event loop utilization over the last interval (0..1).' })
      .addCallback((r) => {
        if (this.utilization !== null) r.observe(this.utilization);
      });
    meter
      .createObservableGauge(METRIC_NAMES.resourcesLive, {
        unit: '{resource}',
        description: 'Live resources keeping the event loop alive, by libuv type.',
      })
      .addCallback((r) => {
        for (const [type, n] of this.live) r.observe(n, { 'loopscope.resource.type': type });
      });
    this.resourcesCreated = meter.createCounter(METRIC_NAMES.resourcesCreated, {
      unit: '{resource}',
      description: 'Async resources created, by async_hooks type (not counted in lite mode).',
    });
    this.blockedTime = meter.createCounter(METRIC_NAMES.blockedTime, {
      unit: 's',
      description: 'Time the event loop was blocked past the threshold, summed over ended blocks.',
    });
    this.blocks = meter.createCounter(METRIC_NAMES.blocks, { unit: '{block}', description: 'Blocks of the event loop past the threshold.' });
    this.syncioTime = meter.createCounter(METRIC_NAMES.syncioTime, { unit: 's', description: 'Time spent in *Sync calls, by api.' });
    this.syncioCalls = meter.createCounter(METRIC_NAMES.syncioCalls, { unit: '{call}', description: '*Sync calls, by api.' });
  }

  /** Takes stamped messages (worker) and the main thread's unstamped records alike. */
  handle(m: Message | Unstamped): void {
    switch (m.type) {
      case 'loop':
        this.delay = {
          min: m.delay.minMs / 1000,
          max: m.delay.maxMs / 1000,
          mean: m.delay.meanMs / 1000,
          p50: m.delay.p50Ms / 1000,
          p90: m.delay.p90Ms / 1000,
          p99: m.delay.p99Ms / 1000,
        };
        this.utilization = m.utilization;
        break;
      case 'resources':
        for (const type of this.live.keys()) this.live.set(type, 0);
        for (const [type, n] of Object.entries(m.byType)) {
          if (this.live.has(type) || this.live.size < MAX_KEYS) this.live.set(type, n);
        }
        for (const [type, n] of Object.entries(m.created ?? {})) {
          if (n > 0 && this.bounded(this.createdTypes, type)) this.resourcesCreated.add(n, { 'loopscope.resource.type': type });
        }
        break;
      case 'block':
        if (m.ended && !this.blocksCounted.has(m.id)) {
          if (this.blocksCounted.size >= 10_000) this.blocksCounted.clear();
          this.blocksCounted.add(m.id);
          const attrs: Attributes = { 'loopscope.block.native': m.native };
          this.blocks.add(1, attrs);
          this.blockedTime.add(m.durationMs / 1000, attrs);
        }
        break;
      case 'syncio':
        for (const call of m.calls) {
          const api = this.bounded(this.syncApis, call.api) ? call.api : 'other';
          this.syncioCalls.add(call.count, { 'loopscope.syncio.api': api });
          this.syncioTime.add(call.totalMs / 1000, { 'loopscope.syncio.api': api });
        }
        break;
      default:
        break;
    }
  }

  private bounded(set: Set<string>, key: string): boolean {
    if (set.has(key)) return true;
    if (set.size >= MAX_KEYS) return false;
    set.add(key);
    return true;
  }
}
