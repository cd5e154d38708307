// deep mode: pending promises and time spent in callbacks per resource type. Costs what the brief
// measured for promiseResolve/before/after hooks on await-heavy code; opt-in for that reason.
import { executionAsyncResource } from 'node:async_hooks';
import { callbackTypeOf } from './types.js';
import { captured } from '../captured.js';

interface CallbackStat {
  count: number;
  totalMs: number;
  maxMs: number;
}

/** Deeper nesting than this is not timed (recursion through nested MakeCallback). */
const MAX_DEPTH = 64;

export class DeepRecorder {
  private promisesCreated = 0;
  private promisesResolved = 0;
  /** Types of non-promise resources as init saw them, for the before hook. */
  private readonly types = new WeakMap<object, string>();
  private readonly stackTypes: string[] = [];
  private readonly stackStarts: number[] = [];
  private stats = new Map<string, CallbackStat>();

  constructor(private readonly own: WeakSet<object>) {}

  onInit(type: string, resource: object): void {
    if (type === 'PROMISE') this.promisesCreated++;
    else this.types.set(resource, type);
  }

  onPromiseResolve(): void {
    this.promisesResolved++;
  }

  before(): void {
    const depth = this.stackTypes.length;
    if (depth >= MAX_DEPTH) {
      this.stackTypes.push('');
      return;
    }
    let type = 'unknown';
    try {
      const res = executionAsyncResource();
      // the agent's own callbacks (heartbeat, sampling, its worker's port) are not the app's time
      type = this.own.has(res) ? '' : (this.types.get(res) ?? callbackTypeOf(res));
    } catch {
      // keep 'unknown'
    }
    this.stackTypes.push(type);
    if (type !== '') this.stackStarts[depth] = captured.perfNow();
  }

  after(): void {
    const type = this.stackTypes.pop();
    if (type === undefined || type === '') return;
    const ms = captured.perfNow() - (this.stackStarts[this.stackTypes.length] ?? 0);
    let s = this.stats.get(type);
    if (!s) {
      if (this.stats.size >= 200) return;
      s = { count: 0, totalMs: 0, maxMs: 0 };
      this.stats.set(type, s);
    }
    s.count++;
    s.totalMs += ms;
    if (ms > s.maxMs) s.maxMs = ms;
  }

  /** Promises created and not settled yet (an estimate: a promise collected unsettled still counts). */
  pendingPromises(): number {
    return Math.max(0, this.promisesCreated - this.promisesResolved);
  }

  takeCallbacks(): Record<string, CallbackStat> {
    const out: Record<string, CallbackStat> = {};
    for (const [k, v] of this.stats) out[k] = { count: v.count, totalMs: round(v.totalMs), maxMs: round(v.maxMs) };
    this.stats = new Map();
    return out;
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
