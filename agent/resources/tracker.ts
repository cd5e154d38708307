// What the app has open, where it was created and for how long. Counts come from
// getActiveResourcesInfo() every interval. Creation sites are kept as lazily formatted stacks,
// under a per-second budget, for long-lived resources only; liveness is read from the resources
// themselves (liveness.ts), never from a destroy hook.
//
// Modes: lite keeps no creation sites (counts and _getActiveHandles only). default catches
// long-lived resources where the app creates them, through wrapped APIs (api-sites.ts), because
// any async_hooks hook makes every promise call into JS: an empty init-only hook alone measured
// 0.93 of an async HTTP handler's throughput. deep installs an async_hooks hook with `init` (which
// sees every resource, also those made by native addons) plus promise counts and callback timing.
import { createHook, type AsyncHook } from 'node:async_hooks';
import type { AgentContext } from '../context.js';
import type { CallbackResource, Frame, LiveResource, ResourcesSample, Unstamped } from '../../shared/protocol.js';
import { HOT_TYPES, KNOWN_LONG_LIVED, OWNED_HANDLE_TYPES, SERVER_TYPES, CONNECTION_TYPES, wireName, callbackTypeOf } from './types.js';
import { Registry, type Entry } from './registry.js';
import { captureStack, type StackHolder } from './stack-capture.js';
import { detailsOf, keepsAlive, isAlive } from './liveness.js';
import { OwnResources } from './own.js';
import { ActiveCounter, activeHandleOwners, handleOf, untrackedResource, countOnlyId } from './active.js';
import { DeepRecorder } from './deep.js';
import { installListenSites, uninstallListenSites } from './listen-site.js';
import { ApiTracking } from './api-tracking.js';
import { captured } from '../captured.js';

export interface ResourceSnapshot {
  resources: LiveResource[];
  truncated: number;
}

/**
 * Frames captured per creation stack: init runs 5 (timers) to ~12 (client sockets) frames below
 * the app's call; V8's formatting cost grows with the count (~30 us for 24 frames).
 */
const STACK_FRAMES = 16;
/** An unknown type created faster than this per interval is per-request: counted, no longer tracked. */
const DEMOTE_PER_INTERVAL = 200;
/** One-shot timers and outgoing connections tracked per second at least (see init). */
const PER_REQUEST_LIKE_MIN = 50;
/** Server async ids remembered to recognise accepted connections. */
const MAX_SERVER_IDS = 10_000;

interface TimerFields {
  _idleTimeout?: number;
  _repeat?: number | null;
  hasRef?: () => boolean;
}

export class ResourceTracker {
  private hook: AsyncHook | null = null;
  private readonly registry: Registry;
  private readonly byResource = new WeakMap<object, Entry>();
  private created = new Map<string, number>();
  private readonly demoted = new Set<string>();
  private readonly serverIds = new Set<number>();
  private readonly own = new OwnResources();
  private readonly counter: ActiveCounter;
  private readonly deep: DeepRecorder | null;
  private stacksSkipped = 0;
  private budgetLeft = 0;
  private budgetWindow = 0;
  private perRequestLeft = 0;
  private lastDropNotice = 0;
  private promisesCreated = 0;
  private api: ApiTracking | null = null;

  constructor(private readonly ctx: AgentContext) {
    this.registry = new Registry(ctx.config.maxTracked, ctx.frameOptions);
    this.counter = new ActiveCounter(ctx.config.intervalMs);
    this.deep = ctx.config.mode === 'deep' ? new DeepRecorder(this.own.all) : null;
  }

  /** Installs the async_hooks tracker for the configured mode (nothing in lite mode). */
  enable(): void {
    if (this.hook || this.api || this.ctx.config.mode === 'lite') return;
    if (this.ctx.config.mode === 'default') {
      try {
        const api = new ApiTracking({
          registry: this.registry,
          byResource: this.byResource,
          admit: (perRequestLike) => this.admit(perRequestLike),
          internal: () => this.ctx.inInternal,
          created: (type) => this.created.set(type, (this.created.get(type) ?? 0) + 1),
        });
        api.install();
        this.api = api;
      } catch (err) {
        this.ctx.warn(`resource tracking is off (${(err as Error).message})`);
      }
      return;
    }
    const init = this.makeInit();
    const deep = this.deep;
    try {
      this.hook = deep
        ? createHook({
            init,
            promiseResolve: () => deep.onPromiseResolve(),
            before: () => {
              try {
                deep.before();
              } catch {
                // never throw from a hook: it aborts the process
              }
            },
            after: () => {
              try {
                deep.after();
              } catch {
                // idem
              }
            },
          })
        : createHook({ init });
      this.hook.enable();
      installListenSites(() => !this.ctx.inInternal);
    } catch (err) {
      this.hook = null;
      this.ctx.warn(`resource tracking is off (${(err as Error).message})`);
    }
  }

  disable(): void {
    uninstallListenSites();
    this.api?.uninstall();
    this.api = null;
    try {
      this.hook?.disable();
    } catch {
      // already off
    }
    this.hook = null;
  }

  private makeInit(): (asyncId: number, type: string, triggerAsyncId: number, resource: object) => void {
    const ctx = this.ctx;
    const created = (): Map<string, number> => this.created;
    const deep = this.deep;
    const init = (asyncId: number, type: string, triggerAsyncId: number, resource: object): void => {
      try {
        if (deep !== null) deep.onInit(type, resource);
        // Promises are most inits by far: a plain counter instead of a map update.
        if (type === 'PROMISE') {
          this.promisesCreated++;
          return;
        }
        if (ctx.inInternal) {
          if (deep !== null || !HOT_TYPES.has(type) || type === 'MESSAGEPORT') this.own.remember(resource, type);
          return;
        }
        const counts = created();
        counts.set(type, (counts.get(type) ?? 0) + 1);
        if (HOT_TYPES.has(type)) return;
        let perRequestLike = false;
        if (type === 'Timeout') {
          const t = resource as TimerFields;
          const oneShot = t._repeat === null || t._repeat === undefined;
          // Short one-shot timers are per-request; timers unref'd from birth (socket timeouts,
          // Node's own housekeeping) never keep anything alive.
          if (oneShot && (t._idleTimeout ?? 0) < 1000) return;
          if (typeof t.hasRef === 'function' && !t.hasRef()) return;
          perRequestLike = oneShot;
        } else if (SERVER_TYPES.has(type)) {
          if (this.serverIds.size < MAX_SERVER_IDS) this.serverIds.add(asyncId);
        } else if (CONNECTION_TYPES.has(type)) {
          if (this.serverIds.has(triggerAsyncId)) return;
          perRequestLike = true;
        } else if (!KNOWN_LONG_LIVED.has(type) && this.demoted.has(type)) {
          return;
        }
        const admit = this.admit(perRequestLike);
        if (admit === 'no') return;
        const now = captured.now();
        let holder: StackHolder | null = null;
        if (admit === 'stack') holder = captureStack(init, STACK_FRAMES);
        const entry: Entry = {
          id: asyncId,
          hookType: type,
          type: wireName(type),
          at: now,
          owned: OWNED_HANDLE_TYPES.has(type),
          ref: new WeakRef(resource),
          holder,
        };
        this.registry.add(entry);
        this.byResource.set(resource, entry);
      } catch {
        // an exception in an async_hooks callback aborts the process: swallow everything
      }
    };
    return init;
  }

  /**
   * Whether to track a new long-lived resource, and with a stack or without (budget spent).
   * One-shot timers of a second or more and outgoing connections are often per request (a
   * request deadline, a call to another service): tracking each would cost ~2 us at the app's
   * request rate, so only so many a second are tracked; the rest are counted.
   */
  private admit(perRequestLike: boolean): 'no' | 'bare' | 'stack' {
    if (this.registry.full) {
      this.registry.dropped++;
      return 'no';
    }
    const now = captured.now();
    if (now - this.budgetWindow >= 1000) {
      this.budgetWindow = now;
      this.budgetLeft = this.ctx.config.stackBudget;
      this.perRequestLeft = Math.max(PER_REQUEST_LIKE_MIN, this.ctx.config.stackBudget);
    }
    if (perRequestLike) {
      if (this.perRequestLeft <= 0) return 'no';
      this.perRequestLeft--;
    }
    if (this.budgetLeft > 0) {
      this.budgetLeft--;
      return 'stack';
    }
    this.stacksSkipped++;
    return 'bare';
  }

  /** Keeps a resource the agent created itself out of counts and snapshots (wire type name). */
  ownResource(resource: object, type: string): void {
    this.own.rememberCounted(resource, type);
  }

  /** The type and creation site of an async resource (executionAsyncResource() of a blocked callback). */
  describe(resource: object): CallbackResource | null {
    try {
      if (!resource || typeof resource !== 'object') return null;
      const entry = this.byResource.get(resource);
      if (entry) return { type: entry.type, createdAt: this.registry.siteOf(entry) };
      return { type: callbackTypeOf(resource), createdAt: this.serverSiteOf(resource) };
    } catch {
      return null;
    }
  }

  /**
   * A request's resource is not tracked (per-request), but its socket's server usually is: the
   * server's creation site says which server's handler was running.
   */
  private serverSiteOf(resource: object): Frame | null {
    const socket = (resource as { socket?: { server?: { _handle?: unknown } } }).socket;
    const handle = socket?.server?._handle;
    if (!handle || typeof handle !== 'object') return null;
    const entry = this.byResource.get(handle);
    return entry ? this.registry.siteOf(entry) : null;
  }

  /** Counts by type, created per type, and the oldest live long-lived resources. */
  sample(): Unstamped<ResourcesSample> {
    const byType = this.own.subtractFrom(this.counter.forSample());
    const out: Unstamped<ResourcesSample> = { type: 'resources', byType, oldest: [], tracked: 0 };
    if (this.ctx.config.mode !== 'lite') {
      this.api?.resolvePending();
      const created: Record<string, number> = {};
      if (this.promisesCreated > 0) created.PROMISE = this.promisesCreated;
      this.promisesCreated = 0;
      const timers = this.api?.takeTimersCreated() ?? 0;
      if (timers > 0) created.Timeout = timers;
      for (const [k, v] of this.created) {
        created[k] = v;
        if (v > DEMOTE_PER_INTERVAL && !KNOWN_LONG_LIVED.has(k) && !HOT_TYPES.has(k)) this.demoted.add(k);
      }
      this.created = new Map();
      out.created = created;
      this.sweep();
      out.oldest = this.oldest(this.ctx.config.oldest);
      out.tracked = this.registry.entries.length;
      out.stacksSkipped = this.stacksSkipped;
      this.stacksSkipped = 0;
      this.noteDropped();
    }
    if (this.deep) {
      out.pendingPromises = this.deep.pendingPromises();
      out.callbacks = this.deep.takeCallbacks();
    }
    return out;
  }

  /**
   * A full registry is a designed condition, not an error: it goes into the recording as a notice
   * (at most once a minute) rather than onto the app's stderr.
   */
  private noteDropped(): void {
    const dropped = this.registry.dropped;
    if (dropped === 0) return;
    const now = captured.now();
    if (now - this.lastDropNotice < 60_000) return;
    this.lastDropNotice = now;
    this.registry.dropped = 0;
    this.ctx.record({
      type: 'notice',
      level: 'info',
      code: 'resources-untracked',
      message: `${dropped} long-lived resources were counted but not tracked: ${this.registry.max} are tracked at most (LOOPSCOPE_MAX_TRACKED)`,
      count: dropped,
    });
  }

  /** The full creation stack of a tracked resource (by async id), for a detail view. */
  stackOf(id: number): Frame[] | null {
    const e = this.registry.entries.find((x) => x.id === id);
    return e ? this.registry.framesOf(e) : null;
  }

  private sweep(): void {
    this.registry.sweep((res) => {
      this.byResource.delete(res);
    });
    this.registry.settle();
    this.registry.preparse(captured.now(), this.ctx.config.intervalMs, Math.max(50, this.ctx.config.stackBudget * 2));
    if (this.serverIds.size > 0) {
      const live = new Set<number>();
      for (const e of this.registry.entries) if (SERVER_TYPES.has(e.hookType)) live.add(e.id);
      // Servers the registry could not hold stay remembered until the set is full.
      if (this.serverIds.size >= MAX_SERVER_IDS) {
        this.serverIds.clear();
        for (const id of live) this.serverIds.add(id);
      }
    }
  }

  private toLive(e: Entry, res: object, now: number, withStack: boolean): LiveResource {
    const r: LiveResource = {
      id: e.id,
      type: e.type,
      ageMs: Math.max(0, now - e.at),
      keepsAlive: keepsAlive(res),
      createdAt: this.registry.siteOf(e),
    };
    if (withStack) r.stack = this.registry.framesOf(e);
    const details = detailsOf(e.hookType, res, e.owned);
    if (details) r.details = details;
    return r;
  }

  private oldest(n: number): LiveResource[] {
    const out: LiveResource[] = [];
    const now = captured.now();
    for (const e of this.registry.entries) {
      if (out.length >= n) break;
      const res = e.ref.deref();
      if (!res) continue;
      this.registry.siteOf(e);
      if (e.own) continue;
      out.push(this.toLive(e, res, now, this.ctx.config.resourceStacks));
    }
    return out;
  }

  /** Every live resource now (for the shutdown snapshot and hang report), bounded by limit. */
  snapshot(limit: number): ResourceSnapshot {
    const resources: LiveResource[] = [];
    let truncated = 0;
    const now = captured.now();
    const push = (r: LiveResource): void => {
      if (resources.length < limit) resources.push(r);
      else truncated++;
    };
    // ref'd resources listed per type, so that the count-only remainder can be worked out
    const listedRefd = new Map<string, number>();
    const seenHandles = new Set<object>();
    try {
      this.api?.resolvePending();
      for (const e of this.registry.entries) {
        const res = e.ref.deref();
        if (!res) continue;
        let alive = false;
        try {
          alive = isAliveEntry(e, res);
        } catch {
          alive = false;
        }
        if (!alive) continue;
        if (resources.length >= limit) {
          // past the limit only the count matters: no stack is read for a resource not shown
          truncated++;
          if (keepsAlive(res)) listedRefd.set(e.type, (listedRefd.get(e.type) ?? 0) + 1);
          seenHandles.add(res);
          continue;
        }
        this.registry.siteOf(e);
        if (e.own) continue;
        const live = this.toLive(e, res, now, false);
        seenHandles.add(res);
        if (live.keepsAlive) listedRefd.set(live.type, (listedRefd.get(live.type) ?? 0) + 1);
        push(live);
      }
      for (const owner of activeHandleOwners()) {
        const handle = handleOf(owner);
        if (handle && (seenHandles.has(handle) || this.own.has(handle))) continue;
        const live = untrackedResource(owner, handle);
        listedRefd.set(live.type, (listedRefd.get(live.type) ?? 0) + 1);
        push(live);
      }
      const counts = this.own.subtractFrom(this.counter.forSnapshot());
      for (const [type, count] of Object.entries(counts)) {
        const rest = count - (listedRefd.get(type) ?? 0);
        const room = Math.max(0, Math.min(rest, limit - resources.length));
        truncated += Math.max(0, rest - room);
        for (let i = 0; i < room; i++) push({ id: countOnlyId(type, i), type, ageMs: null, keepsAlive: true, createdAt: null });
      }
    } catch {
      // a partial snapshot beats none
    }
    return { resources, truncated };
  }
}

function isAliveEntry(e: Entry, res: object): boolean {
  return isAlive(e.hookType, res, e.owned);
}
