// The functions of Node that the agent calls, taken when the agent is loaded, before any of the
// app's code runs. An app (or a library in it) may later replace process.on to log, setTimeout
// with fake timers, process.kill to veto signals: the agent's own timers, listeners and re-raised
// signals must keep working and stay invisible to those replacements. Taken from the prototypes
// and node:timers, not from `process` or the globals, which a preloaded module could have patched
// before the agent's turn. Clocks too: fake-timer libraries (@sinonjs/fake-timers, Jest's modern
// timers) replace Date and globalThis.performance with frozen copies, and their performance object
// lacks eventLoopUtilization; perf_hooks keeps the real one, and its methods are bound here in case
// an app assigns performance.now on it.
import { EventEmitter } from 'node:events';
import * as timers from 'node:timers';
import { closeSync, openSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const proto = EventEmitter.prototype;

export const captured = Object.freeze({
  setTimeout: timers.setTimeout,
  clearTimeout: timers.clearTimeout,
  setInterval: timers.setInterval,
  clearInterval: timers.clearInterval,
  setImmediate: timers.setImmediate,
  clearImmediate: timers.clearImmediate,
  queueMicrotask: globalThis.queueMicrotask,
  nextTick: process.nextTick,
  on: proto.on,
  off: proto.removeListener,
  prependListener: proto.prependListener,
  listeners: proto.listeners,
  rawListeners: proto.rawListeners,
  listenerCount: proto.listenerCount,
  emit: proto.emit,
  kill: process.kill,
  reallyExit: (process as NodeJS.Process & { reallyExit?: (code?: number) => never }).reallyExit,
  // Not process.stderr: reading it opens the app's stderr handle (a resource the app did not make).
  // fs.writeSync before agent/syncio.ts wraps it: the agent's own writes are not the app's sync I/O.
  writeSync,
  openSync,
  closeSync,
  /** Epoch ms (Date.now). */
  now: Date.now,
  /** performance.now(), ms since timeOrigin. */
  perfNow: performance.now.bind(performance),
  eventLoopUtilization: performance.eventLoopUtilization.bind(performance),
  /** performance.timeOrigin: fixed for the thread's life. */
  timeOrigin: performance.timeOrigin,
});

/** process.on(event, fn) through the function captured at load. */
export function processOn(event: string | symbol, fn: (...args: never[]) => void): void {
  captured.on.call(process, event, fn as (...args: unknown[]) => void);
}

/** process.off(event, fn) through the function captured at load. */
export function processOff(event: string | symbol, fn: (...args: never[]) => void): void {
  captured.off.call(process, event, fn as (...args: unknown[]) => void);
}
