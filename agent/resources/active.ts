// What the process has open right now according to Node itself, without async_hooks: counts by
// libuv class name from getActiveResourcesInfo() (ref'd resources only, ~1 us) and the owners of
// ref'd handles from _getActiveHandles(). Works in every mode, including lite.
import { handleWireName, wireName } from './types.js';
import { ownerDetails } from './liveness.js';
import type { LiveResource } from '../../shared/protocol.js';
import { captured } from '../captured.js';

type ProcessWithHandles = NodeJS.Process & { _getActiveHandles?: () => unknown[] };

export function activeCounts(): Record<string, number> {
  const out: Record<string, number> = {};
  let names: string[];
  try {
    names = process.getActiveResourcesInfo();
  } catch {
    return out;
  }
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

/** Above this cost (ms) a getActiveResourcesInfo() result is reused instead of asked again. */
const COSTLY_MS = 2;
/** Share of the sampling interval the call may take on average when it is costly. */
const MAX_SHARE = 0.005;
/** Reused counts are never older than this. */
const MAX_STALE_MS = 2000;

/**
 * getActiveResourcesInfo() returns one string per timer: with a million live timers it takes
 * 15-100 ms (measured). When a call is that costly, its counts are reused for as many intervals
 * as keep its average cost under 0.5% of the loop (counts at most 2 s old), and a snapshot taken soon after reuses them.
 */
export class ActiveCounter {
  private last: Record<string, number> = {};
  private lastAt = 0;
  private lastCostMs = 0;
  private skip = 0;

  constructor(private readonly intervalMs: number) {}

  /** For the interval sample. */
  forSample(): Record<string, number> {
    if (this.skip > 0 && this.lastCostMs > COSTLY_MS) {
      this.skip--;
      return { ...this.last };
    }
    this.refresh();
    const wanted = this.lastCostMs > COSTLY_MS ? Math.ceil(this.lastCostMs / (MAX_SHARE * this.intervalMs)) - 1 : 0;
    this.skip = Math.min(wanted, Math.floor(MAX_STALE_MS / this.intervalMs));
    return { ...this.last };
  }

  /** For the snapshot, which may be polled every few ms during a shutdown. */
  forSnapshot(): Record<string, number> {
    const age = captured.perfNow() - this.lastAt;
    if (this.lastCostMs > COSTLY_MS && age < 50 * this.lastCostMs) return { ...this.last };
    this.refresh();
    return { ...this.last };
  }

  private refresh(): void {
    const t = captured.perfNow();
    this.last = activeCounts();
    this.lastAt = captured.perfNow();
    this.lastCostMs = this.lastAt - t;
  }
}

/** Owners of ref'd handles (net.Server, net.Socket, ChildProcess, FSWatcher...). */
export function activeHandleOwners(): object[] {
  try {
    const fn = (process as ProcessWithHandles)._getActiveHandles;
    if (typeof fn !== 'function') return [];
    return fn.call(process).filter((h): h is object => h !== null && typeof h === 'object');
  } catch {
    return [];
  }
}

interface HandleOwner {
  _handle?: unknown;
  listen?: unknown;
}

/** The native handle behind an owner from _getActiveHandles(), if it has one. */
export function handleOf(owner: object): object | null {
  const h = (owner as HandleOwner)._handle;
  return h && typeof h === 'object' ? h : null;
}

let nextSyntheticId = -1;
const syntheticIds = new WeakMap<object, number>();

/** A negative id stable for the life of the object, for resources the tracker did not see created. */
export function syntheticId(obj: object): number {
  let id = syntheticIds.get(obj);
  if (id === undefined) {
    id = nextSyntheticId--;
    if (nextSyntheticId < -1_000_000_000) nextSyntheticId = -1;
    syntheticIds.set(obj, id);
  }
  return id;
}

/** A live resource the tracker did not see being created (lite mode, budget, before start). */
export function untrackedResource(owner: object, handle: object | null): LiveResource {
  const handleClass = handle ? ((handle as { constructor?: { name?: string } }).constructor?.name ?? 'Handle') : '';
  const isServer = typeof (owner as HandleOwner).listen === 'function';
  const type = handle ? handleWireName(handleClass, isServer) : wireName((owner as { constructor?: { name?: string } }).constructor?.name ?? 'Handle');
  const details: Record<string, string | number | boolean> = {};
  try {
    ownerDetails(details, owner);
  } catch {
    // details are optional
  }
  // The app's stdio: a ref'd pipe or TTY that is not reading does not keep the loop alive (libuv
  // counts only active handles), so stdout/stderr never do and stdin does only while read.
  const fd = handle ? (handle as { fd?: unknown }).fd : undefined;
  let keepsAlive = true;
  if (fd === 0 || fd === 1 || fd === 2) {
    details.stdio = fd === 0 ? 'stdin' : fd === 1 ? 'stdout' : 'stderr';
    keepsAlive = fd === 0 && (handle as { reading?: unknown }).reading === true;
  }
  const r: LiveResource = { id: syntheticId(handle ?? owner), type, ageMs: null, keepsAlive, createdAt: null };
  if (Object.keys(details).length > 0) r.details = details;
  return r;
}

// Count-only entries (timers and requests getActiveResourcesInfo lists but no object is at hand)
// get ids from this range, by type and rank, so that a poller sees the count go down.
const COUNT_ONLY_BASE = -1_100_000_000;
const typeSlots = new Map<string, number>();

export function countOnlyId(type: string, rank: number): number {
  let slot = typeSlots.get(type);
  if (slot === undefined) {
    slot = typeSlots.size;
    if (slot < 1000) typeSlots.set(type, slot);
  }
  return COUNT_ONLY_BASE - (slot % 1000) * 1_000_000 - (rank % 1_000_000);
}
