// The agent sees how the process ends through process.emit rather than through listeners of its
// own: a listener would show in process.listeners('exit'), count towards the max-listeners
// warning and change the order the app's listeners run in. Node emits every process event
// through process.emit (signals too: a signal's handle calls the process.emit that was current
// when the signal got its first listener), and EventEmitter emits 'newListener' and
// 'removeListener' through it as well, so one wrapper sees everything the agent needs.
//
// The wrapper calls the emit it replaced with the same this and arguments and returns its result;
// what the app's listeners throw goes through untouched. The hooks never throw into the app.
import { mirrorFunction } from '../mirror-function.js';

type Emit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean;

/** What `before` returns: go on as usual, skip the emit (an event of the agent's own), or call `after` too. */
export const PASS = 0;
export const SKIP = 1;
export const AFTER = 2;
export type BeforeResult = typeof PASS | typeof SKIP | typeof AFTER;

export interface EmitHooks {
  /** Runs before the app's listeners, for the events in `watched` only. */
  before(event: string, args: IArguments): BeforeResult;
  /** Runs once the app's listeners have run (when `before` returned AFTER and nothing threw). */
  after(event: string, args: IArguments): void;
}

export interface EmitObserver {
  /** The emit the wrapper calls: Node's, or what a library had put there before the agent. */
  readonly previous: Emit;
  /** The wrapper itself. */
  readonly emit: Emit;
  uninstall(): void;
}

export function observeProcessEmit(watched: ReadonlySet<string>, hooks: EmitHooks): EmitObserver {
  const descriptor = Object.getOwnPropertyDescriptor(process, 'emit');
  const previous = process.emit as unknown as Emit;
  let active = true;

  const emit = function emit(this: unknown, event: string | symbol): boolean {
    if (!active || this !== process || typeof event !== 'string' || !watched.has(event)) {
      return Reflect.apply(previous, this, arguments) as boolean;
    }
    let plan: BeforeResult = PASS;
    try {
      plan = hooks.before(event, arguments);
    } catch {
      plan = PASS;
    }
    if (plan === SKIP) return false;
    const result = Reflect.apply(previous, this, arguments) as boolean;
    if (plan === AFTER) {
      try {
        hooks.after(event, arguments);
      } catch {
        // never into the app
      }
    }
    return result;
  };
  mirrorFunction(emit, previous);
  Object.defineProperty(process, 'emit', { value: emit, writable: true, configurable: true, enumerable: descriptor?.enumerable ?? false });

  return {
    previous,
    emit,
    uninstall(): void {
      active = false;
      // Replaced after the agent (signal-exit loads on top of it): leave theirs, which calls ours,
      // which now only passes through. Signal handles bound to ours keep working the same way.
      if (process.emit !== (emit as unknown)) return;
      if (descriptor) Object.defineProperty(process, 'emit', descriptor);
      else delete (process as unknown as Record<string, unknown>).emit;
    },
  };
}
