// INTERFACE STUB: implemented by the loop work.
import type { AgentContext } from './context.js';
import type { LoopSample, Unstamped } from '../shared/protocol.js';

export class LoopSampler {
  constructor(private readonly ctx: AgentContext) {}
  start(): void {}
  stop(): void {}
  sample(): Unstamped<LoopSample> {
    return { type: 'loop', intervalMs: 0, delay: { minMs: 0, meanMs: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0 }, utilization: 0 };
  }
}
