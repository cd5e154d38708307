// Tracking for the default mode, fed by the wrapped creation APIs (api-sites.ts): timers and
// workers are registered at once, handle owners (servers, sockets, children, watchers) once their
// native handle exists, which for listen() on a host name is after a DNS lookup.
import type { Registry, Entry } from './registry.js';
import type { StackHolder } from './stack-capture.js';
import { installApiSites, uninstallApiSites, type ApiSiteSink, type OwnerKind } from './api-sites.js';
import { OWNED_HANDLE_TYPES, wireName } from './types.js';
import { syntheticId } from './active.js';
import { captured } from '../captured.js';

/** Owners waiting for their handle at most this long (a listen() on a host name waits for DNS). */
const PENDING_MAX_MS = 30_000;
const MAX_PENDING = 1000;

interface PendingOwner {
  ref: WeakRef<object>;
  holder: StackHolder | null;
  kind: OwnerKind;
  at: number;
}

const HANDLE_HOOK_TYPES: Record<OwnerKind, Record<string, string>> = {
  server: { TCP: 'TCPSERVERWRAP', Pipe: 'PIPESERVERWRAP' },
  socket: { TCP: 'TCPWRAP', Pipe: 'PIPEWRAP' },
  child: { Process: 'PROCESSWRAP' },
  watcher: { FSEvent: 'FSEVENTWRAP' },
};

export interface TrackingTarget {
  readonly registry: Registry;
  readonly byResource: WeakMap<object, Entry>;
  admit(perRequestLike: boolean): 'no' | 'bare' | 'stack';
  internal(): boolean;
  /** Counts one resource of this async_hooks type created in the interval. */
  created(type: string): void;
}

export class ApiTracking {
  /** Owners whose native handle did not exist yet when they were created. */
  private pending: PendingOwner[] = [];
  private timersCreated = 0;

  constructor(private readonly t: TrackingTarget) {}

  install(): void {
    installApiSites(this.sink());
  }

  uninstall(): void {
    uninstallApiSites();
  }

  /** Timers the app created since the last call (all of them, tracked or not). */
  takeTimersCreated(): number {
    const n = this.timersCreated;
    this.timersCreated = 0;
    return n;
  }

  private sink(): ApiSiteSink {
    return {
      admit: (perRequestLike) => this.t.admit(perRequestLike),
      internal: () => this.t.internal(),
      countTimer: () => {
        this.timersCreated++;
      },
      timer: (timeout, holder) => {
        const entry: Entry = {
          id: timerAsyncId(timeout),
          hookType: 'Timeout',
          type: 'Timeout',
          at: captured.now(),
          owned: false,
          ref: new WeakRef(timeout),
          holder,
        };
        this.t.registry.add(entry);
        this.t.byResource.set(timeout, entry);
      },
      worker: (worker, holder) => {
        const key = Object.getOwnPropertySymbols(worker).find((sym) => sym.description === 'kHandle');
        const handle = key ? (worker as Record<symbol, unknown>)[key] : undefined;
        if (!handle || typeof handle !== 'object' || this.t.byResource.has(handle)) return;
        this.t.created('WORKER');
        const entry: Entry = {
          id: syntheticId(handle),
          hookType: 'WORKER',
          type: wireName('WORKER'),
          at: captured.now(),
          owned: false,
          ref: new WeakRef(handle),
          holder,
        };
        this.t.registry.add(entry);
        this.t.byResource.set(handle, entry);
      },
      owner: (owner, holder, kind) => {
        const pending: PendingOwner = { ref: new WeakRef(owner), holder, kind, at: captured.now() };
        if (!this.resolveOwner(pending) && this.pending.length < MAX_PENDING) this.pending.push(pending);
      },
    };
  }

  /** Registers an owner's native handle once it exists; false while it does not yet. */
  private resolveOwner(p: PendingOwner): boolean {
    const owner = p.ref.deref();
    if (!owner) return true;
    const handle = (owner as { _handle?: unknown })._handle;
    if (!handle || typeof handle !== 'object') return false;
    if (this.t.byResource.has(handle)) return true;
    const hookType = HANDLE_HOOK_TYPES[p.kind][(handle as { constructor?: { name?: string } }).constructor?.name ?? ''];
    if (!hookType) return true;
    this.t.created(hookType);
    if (this.t.registry.full) {
      this.t.registry.dropped++;
      return true;
    }
    const getAsyncId = (handle as { getAsyncId?: () => unknown }).getAsyncId;
    const id = typeof getAsyncId === 'function' ? Number(getAsyncId.call(handle)) : NaN;
    const entry: Entry = {
      id: Number.isInteger(id) ? id : syntheticId(handle),
      hookType,
      type: wireName(hookType),
      at: p.at,
      owned: OWNED_HANDLE_TYPES.has(hookType),
      ref: new WeakRef(handle),
      holder: p.holder,
    };
    this.t.registry.add(entry);
    this.t.byResource.set(handle, entry);
    return true;
  }

  /** Registers owners whose handle has appeared since; forgets those that never got one. */
  resolvePending(): void {
    if (this.pending.length === 0) return;
    const now = captured.now();
    this.pending = this.pending.filter((p) => !this.resolveOwner(p) && now - p.at < PENDING_MAX_MS);
  }
}

/** A Timeout's async id: its Symbol.toPrimitive (what clearTimeout(number) relies on). */
function timerAsyncId(timeout: object): number {
  try {
    const id = Number((timeout as { [Symbol.toPrimitive]?: () => unknown })[Symbol.toPrimitive]?.());
    if (Number.isInteger(id)) return id;
  } catch {
    // fall through
  }
  return syntheticId(timeout);
}
