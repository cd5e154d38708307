// Node gives a signal its handle when the signal gets its first listener and closes it when the
// last one goes; both happen in listeners Node registered on process at bootstrap
// ('newListener': startListeningIfSignal, 'removeListener': stopListeningIfSignal). The handle
// calls the process.emit that was current when it was made. The agent makes the handles itself,
// through Node's own function, so that a handle tells it a signal arrived, and closes the one it
// made for its own listener with Node's.
import { constants } from 'node:os';
import { captured } from '../captured.js';

type Listener = (...args: unknown[]) => unknown;

// Taken at agent load like the functions in captured.ts.

export interface NodeSignalHooks {
  start: ((signal: string) => void) | null;
  stop: ((signal: string) => void) | null;
}

function named(event: string, name: string): ((signal: string) => void) | null {
  const found = (captured.rawListeners.call(process, event) as Listener[]).find((f) => f.name === name);
  return found ? (signal: string) => void found.call(process, signal) : null;
}

/** Node's own signal-handle listeners, or null where a Node version does it another way. */
export function nodeSignalHooks(): NodeSignalHooks {
  return { start: named('newListener', 'startListeningIfSignal'), stop: named('removeListener', 'stopListeningIfSignal') };
}

type Emit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean;

/**
 * Makes the signal's handle (it must have none now) call `target` with `beforeDispatch` run
 * first, without a frame of the agent's: a listener that throws then shows the same stack as
 * without the agent (a wrapper is one more frame in it). The handle calls a bound
 * Reflect.apply, which V8 leaves out of stack traces; the hook runs while Reflect.apply reads the
 * length of the argument list, and has returned before any listener runs. The handle passes the
 * signal's number as a last argument, as Node's does.
 */
export function makeSignalHandle(signal: string, target: Emit, beforeDispatch: () => void, node: NodeSignalHooks): void {
  if (!node.start) return;
  const args = {
    get length(): number {
      try {
        beforeDispatch();
      } catch {
        // never into the app
      }
      return 3;
    },
    0: signal,
    1: signal,
    2: (constants.signals as Record<string, number>)[signal],
  };
  const direct = Reflect.apply.bind(undefined, target, process, args as unknown as unknown[]);
  const current = Object.getOwnPropertyDescriptor(process, 'emit');
  // Node binds process.emit as it is while it makes the handle: this one, for that moment only.
  Object.defineProperty(process, 'emit', { value: direct, writable: true, configurable: true, enumerable: current?.enumerable ?? false });
  try {
    node.start(signal);
  } finally {
    if (current) Object.defineProperty(process, 'emit', current);
    else delete (process as unknown as Record<string, unknown>).emit;
  }
}
