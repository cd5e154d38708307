// The agent's own resources: everything async_hooks reports while ctx.internal() runs (its worker,
// ports, timers, histogram). Remembered weakly so that they can be taken out of byType, out of the
// snapshot and, in deep mode, out of callback timing.
import { HOT_TYPES, wireName } from './types.js';
import { keepsAlive, ownerOf } from './liveness.js';

/** Own handles remembered individually (the agent opens a handful). */
const MAX_OWN = 256;

export class OwnResources {
  private readonly list: Array<{ ref: WeakRef<object>; type: string }> = [];
  /** Every own resource, hot types included, for deep mode's before hook. */
  readonly all = new WeakSet<object>();

  remember(resource: object, hookType: string): void {
    this.all.add(resource);
    if (HOT_TYPES.has(hookType) && hookType !== 'MESSAGEPORT' && hookType !== 'SIGNALWRAP') return;
    if (this.list.length >= MAX_OWN) {
      const i = this.list.findIndex((o) => o.ref.deref() === undefined);
      if (i < 0) return;
      this.list.splice(i, 1);
    }
    this.list.push({ ref: new WeakRef(resource), type: wireName(hookType) });
  }

  /** An own resource the agent made outside any hook's sight, taken out of counts under this wire name. */
  rememberCounted(resource: object, type: string): void {
    this.all.add(resource);
    if (this.list.length < MAX_OWN) this.list.push({ ref: new WeakRef(resource), type });
  }

  has(resource: object): boolean {
    return this.all.has(resource);
  }

  /** Subtracts the agent's ref'd resources from getActiveResourcesInfo() counts, in place. */
  subtractFrom(counts: Record<string, number>): Record<string, number> {
    for (const o of this.list) {
      const res = o.ref.deref();
      if (!res || !keepsAlive(res) || isStdio(res)) continue;
      const n = counts[o.type];
      if (n === undefined) continue;
      if (n <= 1) delete counts[o.type];
      else counts[o.type] = n - 1;
    }
    return counts;
  }
}

/** The process's stdio streams are the app's even when the agent's Worker made them first. */
function isStdio(handle: object): boolean {
  const owner = ownerOf(handle);
  return owner !== null && (owner === process.stdout || owner === process.stderr || owner === process.stdin);
}
