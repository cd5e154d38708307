// Creation sites of the timers that node:timers/promises makes. Its setTimeout and setInterval
// create their Timeout inside the call (setInterval: inside the first next() of the async
// generator it returns) and never hand it out, and a forgotten `for await (… of setInterval())`
// is a classic reason a process will not exit. An async_hooks hook, created once and enabled only
// for the length of that one synchronous call, hands the Timeout over; enabled for good it would
// cost every promise of the app (see api-sites.ts), enabled around these calls it costs only them.
import timersPromises from 'node:timers/promises';
import { createHook, type AsyncHook } from 'node:async_hooks';
import type { ApiSiteSink } from './api-sites.js';
import type { StackHolder } from './stack-capture.js';

type AnyFn = (this: unknown, ...args: unknown[]) => unknown;
type Patcher = (target: object, key: string, make: (original: AnyFn) => AnyFn) => void;
type Capture = (above: AnyFn) => StackHolder;

/** Runs `run` and returns the first Timeout created synchronously inside it, if any. */
class TimeoutCatcher {
  private caught: object | null = null;
  private readonly hook: AsyncHook;

  constructor() {
    this.hook = createHook({
      init: (_id, type, _trigger, resource) => {
        if (type === 'Timeout' && this.caught === null) this.caught = resource;
      },
    });
  }

  run<T>(body: () => T): { result: T; timeout: object | null } {
    this.caught = null;
    let enabled = false;
    try {
      this.hook.enable();
      enabled = true;
    } catch {
      // no hook, no site: the call itself must still happen
    }
    try {
      const result = body();
      return { result, timeout: this.caught };
    } finally {
      if (enabled) this.hook.disable();
      this.caught = null;
    }
  }
}

interface AsyncIteratorLike {
  next: (...args: unknown[]) => unknown;
}

export function installPromiseTimers(sink: ApiSiteSink, patch: Patcher, capture: Capture): void {
  const catcher = new TimeoutCatcher();
  const track = (timeout: object | null, holder: StackHolder | null): void => {
    if (timeout) sink.timer(timeout, holder);
  };

  patch(timersPromises, 'setTimeout', (original) => {
    const wrapped = function (this: unknown, ...args: unknown[]): unknown {
      let admit: 'no' | 'bare' | 'stack' = 'no';
      try {
        // Short sleeps are per-request work (as for the callback setTimeout).
        if (!sink.internal()) {
          sink.countTimer();
          if (Number(args[0]) >= 1000) admit = sink.admit(true);
        }
      } catch {
        admit = 'no';
      }
      if (admit === 'no') return original.apply(this, args);
      const holder = admit === 'stack' ? capture(wrapped as AnyFn) : null;
      const { result, timeout } = catcher.run(() => original.apply(this, args));
      try {
        track(timeout, holder);
      } catch {
        // a creation site is a nicety
      }
      return result;
    };
    return wrapped as AnyFn;
  });

  patch(timersPromises, 'setInterval', (original) => {
    const wrapped = function (this: unknown, ...args: unknown[]): unknown {
      const iterator = original.apply(this, args) as AsyncIteratorLike;
      try {
        if (sink.internal() || !iterator || typeof iterator.next !== 'function') return iterator;
        sink.countTimer();
        const admit = sink.admit(false);
        if (admit === 'no') return iterator;
        // The line that called setInterval() is the one to show, not the first next() in for-await.
        const holder = admit === 'stack' ? capture(wrapped as AnyFn) : null;
        const next = iterator.next;
        let first = true;
        // An own property only until the first call, which runs the body that creates the Timeout.
        // for-await reads next() once and keeps calling that function: later calls go straight on.
        Object.defineProperty(iterator, 'next', {
          configurable: true,
          enumerable: false,
          writable: true,
          value: function (this: unknown, ...nextArgs: unknown[]): unknown {
            if (!first) return next.apply(this, nextArgs);
            first = false;
            delete (iterator as Partial<AsyncIteratorLike>).next;
            const { result, timeout } = catcher.run(() => next.apply(this, nextArgs));
            try {
              track(timeout, holder);
            } catch {
              // as above
            }
            return result;
          },
        });
      } catch {
        // as above
      }
      return iterator;
    };
    return wrapped as AnyFn;
  });
}
