// The agent listens for a signal only while the app does not (see install.ts): its listener is
// then the only one, and an app or library asking process.listeners('SIGTERM') must still see
// none, as it would without the agent. signal-exit, for one, re-raises a signal only when its
// own listeners are all there is. These replacements answer as if the agent's listener were not
// there; every other emitter, and every other event, gets the original answer.
import { EventEmitter } from 'node:events';
import { captured } from '../captured.js';
import { mirrorFunction } from '../mirror-function.js';

type Listener = (...args: unknown[]) => unknown;

// Taken at agent load like the functions in captured.ts (not offered there).
const protoEventNames = EventEmitter.prototype.eventNames;

export interface ListenerVisibility {
  uninstall(): void;
}

const KEYS = ['listeners', 'rawListeners', 'listenerCount', 'eventNames'] as const;

/** Hides `hidden` from process's listener queries until uninstall(). */
export function hideFromListenerQueries(hidden: Listener): ListenerVisibility {
  const without = (list: Listener[]): Listener[] => (list.includes(hidden) ? list.filter((f) => f !== hidden) : list);
  const own = (emitter: unknown, type: unknown): boolean =>
    emitter === process && (captured.rawListeners.call(process, type as string) as Listener[]).includes(hidden);

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
        if (!own(this, type)) return n;
        if (listener === hidden) return 0;
        return listener === undefined || listener === null ? n - 1 : n;
      } catch {
        return n;
      }
    },
    eventNames: function eventNames(this: unknown) {
      const names = Reflect.apply(protoEventNames, this, arguments) as (string | symbol)[];
      if (this !== process) return names;
      try {
        return names.filter((name) => {
          const list = captured.rawListeners.call(process, name) as Listener[];
          return !(list.length === 1 && list[0] === hidden);
        });
      } catch {
        return names;
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
