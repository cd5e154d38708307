// The agent's own listeners on `process` are put in and taken out of EventEmitter's listener
// table directly, not with on()/removeListener(): those emit 'newListener' and 'removeListener',
// which the app's listeners for those events would see (a listener that is not the app's), and
// check the max-listeners limit. Node's table: `_events[type]` is one function or an array of
// them, `_eventsCount` the number of types. Arrays are never changed in place: an emit going on
// now must call the listeners it started with (Node 20/22 copy the array when they emit; 24 and
// later mark it as emitting, under a symbol, and copy it when changed during the emit), so the
// agent puts a new array in its place, with Node's marks copied and the count of emits at zero.
// Where a Node version keeps the table some other way, the public methods are used instead.
import { EventEmitter } from 'node:events';
import { captured } from '../captured.js';

export type Listener = (...args: unknown[]) => unknown;
type Entry = Listener | Listener[];
type Table = Record<string | symbol, Entry | undefined>;
interface RawEmitter {
  _events?: Table;
  _eventsCount?: number;
}

const target = process as unknown as RawEmitter;

/** The symbols Node puts on a listener array (24+: how many emits walk it now), as on a new one. */
const arrayMarks: [symbol, unknown][] = (() => {
  try {
    const probe = new EventEmitter() as unknown as RawEmitter;
    const noop = (): void => {};
    (probe as unknown as EventEmitter).on('probe', noop).on('probe', noop);
    const list = probe._events?.['probe'];
    if (!Array.isArray(list)) return [];
    return Object.getOwnPropertySymbols(list).map((s) => [s, (list as unknown as Record<symbol, unknown>)[s]] as [symbol, unknown]);
  } catch {
    return [];
  }
})();

function newArray(items: Listener[]): Listener[] {
  const list = items.slice();
  for (const [symbol, initial] of arrayMarks) (list as unknown as Record<symbol, unknown>)[symbol] = initial;
  return list;
}

/** True when process keeps its listeners the way this file expects. */
function table(): Table | null {
  const events = target._events;
  return events !== null && typeof events === 'object' && typeof target._eventsCount === 'number' ? events : null;
}

function list(event: string): Listener[] {
  return captured.rawListeners.call(process, event) as Listener[];
}

export function rawHas(event: string, fn: Listener): boolean {
  return list(event).includes(fn);
}

/** Adds `fn` as the first or the last listener for `event`, with no event emitted. */
export function rawAdd(event: string, fn: Listener, first: boolean): void {
  const events = table();
  if (!events) {
    (first ? captured.prependListener : captured.on).call(process, event, fn);
    return;
  }
  const existing = events[event];
  if (existing === undefined) {
    events[event] = fn;
    target._eventsCount = (target._eventsCount ?? 0) + 1;
  } else {
    const items = typeof existing === 'function' ? [existing] : existing;
    events[event] = newArray(first ? [fn, ...items] : [...items, fn]);
  }
}

/** Takes `fn` out of the listeners for `event` (the last time it is there), with no event emitted. */
export function rawRemove(event: string, fn: Listener): void {
  const events = table();
  if (!events) {
    captured.off.call(process, event, fn);
    return;
  }
  const existing = events[event];
  if (existing === undefined) return;
  if (existing === fn) {
    deleteType(events, event);
    return;
  }
  if (typeof existing === 'function') return;
  const at = existing.lastIndexOf(fn);
  if (at < 0) return;
  const rest = existing.filter((_, i) => i !== at);
  events[event] = rest.length === 1 ? rest[0]! : newArray(rest);
}

function deleteType(events: Table, event: string): void {
  target._eventsCount = (target._eventsCount ?? 1) - 1;
  // As Node does when the last type goes.
  if (target._eventsCount === 0) target._events = Object.create(null) as Table;
  else delete events[event];
}

/** Takes every listener for `event` out at once and returns them, to put back with rawRestore. */
export function rawDetach(event: string): Entry | undefined {
  const events = table();
  if (!events) return undefined;
  const existing = events[event];
  if (existing !== undefined) deleteType(events, event);
  return existing;
}

export function rawRestore(event: string, entry: Entry | undefined): void {
  const events = table();
  if (!events || entry === undefined) return;
  if (events[event] === undefined) target._eventsCount = (target._eventsCount ?? 0) + 1;
  events[event] = entry;
}

/** True when rawDetach/rawRestore can work on this Node. */
export function rawTableAvailable(): boolean {
  return table() !== null;
}
