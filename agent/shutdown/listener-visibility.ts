// The agent's listeners on process (install.ts: a signal's while the app has none, and its hooks
// on newListener, removeListener, beforeExit, exit and uncaughtExceptionMonitor) are not the
// app's: an app or library asking process.listeners('SIGTERM') must see what it would without the
// agent (signal-exit, for one, re-raises a signal only when its own listeners are all there is),
// and process.removeAllListeners() must not take them, nor tell the app's removeListener
// listeners about them. These replacements answer as if the agent's listeners were not there;
// every other emitter gets the original answer.
import { EventEmitter } from 'node:events';
import { captured } from '../captured.js';
import { mirrorFunction } from '../mirror-function.js';
import { rawAdd, rawRemove, type Listener } from './raw-listeners.js';

// Taken at agent load like the functions in captured.ts (not offered there).
const protoEventNames = EventEmitter.prototype.eventNames;
const protoRemoveAll = EventEmitter.prototype.removeAllListeners;

export interface ListenerVisibility {
  uninstall(): void;
}

const KEYS = ['listeners', 'rawListeners', 'listenerCount', 'eventNames', 'removeAllListeners'] as const;

/** Hides the listeners in `hidden` (a live set) from process's listener methods until uninstall(). */
export function hideFromListenerQueries(hidden: ReadonlySet<Listener>): ListenerVisibility {
  const without = (list: Listener[]): Listener[] => (list.some((f) => hidden.has(f)) ? list.filter((f) => !hidden.has(f)) : list);
  const hiddenIn = (type: unknown): number => {
    let n = 0;
    for (const f of captured.rawListeners.call(process, type as string) as Listener[]) if (hidden.has(f)) n++;
    return n;
  };

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each keeps its original's signature
  const replacements: Record<(typeof KEYS)[number], (this: unknown, ...args: any[]) => unknown> = {
    listeners: function listeners(this: unknown, type: string | symbol) {
      const list = Reflect.apply(captured.listeners, this, arguments) as Listener[];
      return this === process ? without(list) : list;
    },
    rawListeners: function rawListeners(this: unknown, type: string | symbol) {
      const list = Reflect.apply(captured.rawListeners, this, arguments) as Listener[];
      return this === process ? without(list) : list;
    },
    listenerCount: function listenerCount(this: unknown, type: string | symbol, listener?: unknown) {
      const n = Reflect.apply(captured.listenerCount, this, arguments) as number;
      try {
        if (this !== process) return n;
        if (listener !== undefined && listener !== null) return hidden.has(listener as Listener) ? 0 : n;
        return n - hiddenIn(type);
      } catch {
        return n;
      }
    },
    eventNames: function eventNames(this: unknown) {
      const names = Reflect.apply(protoEventNames, this, arguments) as (string | symbol)[];
      if (this !== process) return names;
      try {
        return names.filter((name) => (captured.rawListeners.call(process, name) as Listener[]).some((f) => !hidden.has(f)));
      } catch {
        return names;
      }
    },
    // The agent's listeners are taken out first (no 'removeListener' event for them) and put
    // back after, where they were.
    removeAllListeners: function removeAllListeners(this: unknown, type?: string | symbol) {
      if (this !== process) return Reflect.apply(protoRemoveAll, this, arguments);
      const taken: [string, Listener, boolean][] = [];
      try {
        const types = arguments.length === 0 ? (Reflect.apply(protoEventNames, process, []) as (string | symbol)[]) : [type];
        for (const t of types) {
          if (typeof t !== 'string') continue;
          const list = captured.rawListeners.call(process, t) as Listener[];
          list.forEach((f, i) => {
            if (hidden.has(f)) taken.push([t, f, i === 0 && list.length > 1]);
          });
        }
        for (const [t, f] of taken) rawRemove(t, f);
      } catch {
        // the app's call still runs
      }
      try {
        return Reflect.apply(protoRemoveAll, this, arguments);
      } finally {
        for (const [t, f, first] of taken) {
          try {
            if (!(captured.rawListeners.call(process, t) as Listener[]).includes(f)) rawAdd(t, f, first);
          } catch {
            // never into the app
          }
        }
      }
    },
  };

  const before = new Map<string, PropertyDescriptor | undefined>();
  for (const key of KEYS) {
    const replacement = replacements[key];
    before.set(key, Object.getOwnPropertyDescriptor(process, key));
    mirrorFunction(replacement, (EventEmitter.prototype as unknown as Record<string, object>)[key]!);
    Object.defineProperty(process, key, { value: replacement, writable: true, configurable: true, enumerable: false });
  }

  return {
    uninstall(): void {
      for (const key of KEYS) {
        // Replaced again by someone after the agent: theirs stays, ours passes through to the
        // prototype's answer plus the filter, which is harmless once the listener is gone.
        if ((process as unknown as Record<string, unknown>)[key] !== replacements[key]) continue;
        const d = before.get(key);
        if (d) Object.defineProperty(process, key, d);
        else delete (process as unknown as Record<string, unknown>)[key];
      }
    },
  };
}
