// Follows every way a process ends: SIGTERM/SIGINT/SIGHUP, process.exit(), a drained loop, an
// uncaught exception or rejection, and the cleanup API. Transparency first: the app and its
// libraries must observe the same signal and exit listeners as without the agent (signal-exit
// re-raises a signal only when its own listeners are all there is). So the agent watches through
// process.emit (process-observer.ts) and holds a signal listener only while the app has none for
// that signal: a signal then arrives at the agent alone, which records, flushes, steps aside and
// re-raises it so the process dies by it as it would have. That lone listener is hidden from
// process.listeners() and friends (listener-visibility.ts) and taken out before the app's first
// listener for the signal is added, so counts and the max-listeners warning are the app's own.
// Nothing here listens for 'uncaughtException' or 'unhandledRejection': either would change
// what Node does with the error.
import type { AgentContext } from '../context.js';
import type { ResourceTracker } from '../resources/tracker.js';
import { captured } from '../captured.js';
import { publishObserver, currentObserver } from './bridge.js';
import { exitOrigin, type ExitOrigin } from './exit-caller.js';
import { ShutdownRecorder } from './recorder.js';
import { createStepAside } from './step-aside.js';
import { AFTER, PASS, SKIP, observeProcessEmit, type BeforeResult } from './process-observer.js';
import { hideFromListenerQueries } from './listener-visibility.js';
import { watchSelfKill } from './self-kill.js';
import { makeSignalHandle, nodeSignalHooks, rebindSignalHandle } from './signal-handles.js';

export interface ShutdownHandle {
  uninstall(): void;
  /**
   * Call on the main thread from inside a detected block (from the capture the worker evaluates):
   * lets a signal kill the blocked process at once, as without the agent. See step-aside.ts.
   */
  mainBlocked(): void;
}

/** globalThis[Symbol.for(MAIN_BLOCKED_KEY)]() is mainBlocked(), for a Runtime.evaluate expression. */
export const MAIN_BLOCKED_KEY = 'loopscope.shutdown.mainBlocked';

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
type FollowedSignal = (typeof SIGNALS)[number];
const isFollowed = (event: unknown): event is FollowedSignal => (SIGNALS as readonly unknown[]).includes(event);

const WATCHED = new Set<string>([...SIGNALS, 'exit', 'beforeExit', 'uncaughtExceptionMonitor', 'newListener', 'removeListener']);

function noop(): void {}

type Listener = (...args: unknown[]) => unknown;

/** The code Node will exit with, read as late as the 'exit' event allows. */
function exitCode(fromEvent: unknown): number | null {
  const set = process.exitCode;
  const n = set === undefined || set === null || set === '' ? Number(fromEvent) : Number(set);
  return Number.isInteger(n) ? n : null;
}

const rawListeners = (event: string): Listener[] => captured.rawListeners.call(process, event) as Listener[];

/** Follows signals, exit and crashes; `finalSample` records a last loop/resources sample. */
export function installShutdown(ctx: AgentContext, tracker: ResourceTracker, finalSample: () => void): ShutdownHandle {
  let installed = true;
  const recorder = new ShutdownRecorder(ctx, tracker, finalSample);

  /** Set once the agent lets a signal kill the process: its listener must not come back then. */
  let reraising = false;
  /** The signal process.emit is dispatching now, and whether Node sent it (emit(sig, sig)) or the app called emit. */
  let dispatching: { signal: string; real: boolean } | null = null;
  /** What `dispatching` was before, for emits inside emits. */
  const dispatchStack: ({ signal: string; real: boolean } | null)[] = [];
  /** True while the agent adds or removes its own listener: those events are not the app's. */
  let ownChange = false;
  const node = nodeSignalHooks();

  const hasLone = (signal: string): boolean => rawListeners(signal).includes(lone);
  const appCount = (event: string): number => {
    const list = rawListeners(event);
    return list.includes(lone) ? list.length - 1 : list.length;
  };
  const own = (fn: () => void): void => {
    const was = ownChange;
    ownChange = true;
    try {
      ctx.internal(fn);
    } finally {
      ownChange = was;
    }
  };
  const removeLone = (signal: string): void => {
    if (hasLone(signal)) own(() => captured.off.call(process, signal, lone));
  };
  const addLone = (signal: string): void => {
    if (!installed || reraising || stepAside.active || appCount(signal) > 0 || hasLone(signal)) return;
    own(() => captured.prependListener.call(process, signal, lone));
  };

  /** The signal is the agent's alone: record the end, step aside, let it kill the process. */
  const dieBy = (signal: string, kill: boolean): void => {
    try {
      if (!recorder.active) recorder.begin(signal as FollowedSignal, null);
      recorder.end({ code: null, signal, exitCaller: null });
    } catch {
      // a failed record must not keep alive a process the signal kills
    }
    reraising = true;
    removeLone(signal);
    if (kill) captured.kill.call(process, process.pid, signal);
  };

  const noteSignal = (signal: string): void => {
    if (recorder.active) recorder.signal(signal);
    else recorder.begin(signal as FollowedSignal, null);
  };

  // Present only while the app has no listener for the signal, so when it runs it is alone.
  function lone(signal: unknown): void {
    try {
      const name = String(signal);
      if (dispatching && dispatching.signal === name) {
        // The app called process.emit('SIGTERM') itself: without the agent nothing would happen.
        if (!dispatching.real) return;
      } else {
        // Dispatched by an emit that does not go through the agent's (replaced under it).
        noteSignal(name);
      }
      dieBy(name, true);
    } catch {
      // never into the app
    }
  }

  let extraTurn = false;
  const exitOrigins: ExitOrigin[] = [];

  const before = (event: string, args: IArguments): BeforeResult => {
    if (!installed) return PASS;
    const target = args[1];
    if (event === 'newListener' || event === 'removeListener') {
      if (!isFollowed(target)) return PASS;
      if (ownChange) {
        // The agent's own listener: the app's newListener/removeListener listeners would not have
        // seen it; Node's own (the signal's handle) must.
        if (!node.start || !node.stop) return PASS;
        if (event === 'newListener') makeHandle(target);
        else node.stop(target);
        return SKIP;
      }
      if (event === 'newListener') {
        // Out before the app's listener is added: the app's count and warning are its own.
        if (args[2] !== lone) removeLone(target);
        if (appCount(target) === 0) makeHandle(target);
        return PASS;
      }
      // The app's removeAllListeners() took the agent's listener: it was never the app's to see.
      if (args[2] === lone) {
        own(() => captured.prependListener.call(process, target, lone));
        return SKIP;
      }
      return AFTER;
    }
    if (isFollowed(event)) {
      // Node calls it as emit(sig, sig, signum); the app, as emit(sig).
      const real = target === event;
      const prev = dispatching;
      dispatching = { signal: event, real };
      dispatchStack.push(prev);
      if (real || appCount(event) > 0) noteSignal(event);
      return AFTER;
    }
    if (event === 'exit') {
      const origin = exitOrigin(ctx.frameOptions);
      exitOrigins.push(origin);
      if (!recorder.active && !recorder.finished) recorder.begin(origin.viaExit ? 'exit' : 'beforeExit', null);
      return AFTER;
    }
    if (event === 'beforeExit') {
      // A signal that arrived in the loop's last turn sits unread in libuv's signal pipe (Node's
      // signal handles are unref'd): without the agent the process would have died by it. One
      // more, empty, loop turn dispatches it to the agent's listener, which re-raises it. Only
      // when the app has no beforeExit listener of its own, so nothing of the app sees the turn.
      if (!extraTurn && appCount('beforeExit') === 0 && SIGNALS.some((s) => hasLone(s))) {
        extraTurn = true;
        tracker.ownResource(ctx.internal(() => captured.setImmediate(noop)), 'Immediate');
        return PASS;
      }
      if (!recorder.active && !recorder.finished) recorder.begin('beforeExit', null);
      return PASS;
    }
    if (event === 'uncaughtExceptionMonitor') {
      // Fatal when nobody handles it, what Node itself checks next.
      if (appCount('uncaughtException') === 0 && !process.hasUncaughtExceptionCaptureCallback()) {
        recorder.crashed(args[1], args[2] === 'unhandledRejection' ? 'unhandledRejection' : 'uncaughtException');
      }
    }
    return PASS;
  };
  const after = (event: string, args: IArguments): void => {
    if (event === 'removeListener') {
      // The app's last listener for the signal is gone: the agent's comes back, so the next
      // signal is still recorded and still kills the process.
      if (appCount(args[1] as string) === 0) addLone(args[1] as string);
      return;
    }
    if (isFollowed(event)) {
      dispatching = dispatchStack.pop() ?? null;
      return;
    }
    if (event === 'exit') {
      const origin = exitOrigins.pop();
      // The app's 'exit' listeners have run and may have changed process.exitCode.
      recorder.end({ code: exitCode(args[1]), signal: null, exitCaller: origin?.caller ?? null });
    }
  };

  const emitObserver = observeProcessEmit(WATCHED, { before, after });

  /**
   * Makes the handle of a signal that has none, as Node would for the first listener. When Node
   * would bind the agent's wrapper, the handle calls the emit beneath it and the agent's hook
   * first, without a frame of the agent's between the signal and the app's listeners.
   */
  function makeHandle(signal: FollowedSignal): void {
    if (process.emit !== (emitObserver.emit as unknown)) {
      node.start?.(signal);
      return;
    }
    makeSignalHandle(
      signal,
      emitObserver.previous,
      () => {
        if (!installed) return;
        // Nothing runs after the dispatch here: cleared once its listeners have run.
        const now = { signal, real: true };
        dispatching = now;
        captured.queueMicrotask(() => {
          if (dispatching === now) dispatching = null;
        });
        noteSignal(signal);
      },
      node,
    );
  }
  const visibility = hideFromListenerQueries(lone as Listener);
  const selfKill = watchSelfKill((signal) => {
    // No listener of the app's: the signal kills the process. Also when the agent's listener is
    // not there (stepped aside, or a library put back an emit from before the agent).
    if (!installed || reraising || !isFollowed(signal) || appCount(signal) > 0) return;
    // signal-exit re-raising the signal it is handling: already noted.
    if (dispatching?.signal !== signal) noteSignal(signal);
    dieBy(signal, false);
  });

  const stepAside = createStepAside(
    ctx,
    SIGNALS,
    {
      alone: (signal) => hasLone(signal) && appCount(signal) === 0,
      remove: removeLone,
      restore: addLone,
    },
    () => installed,
  );
  const mainBlocked = (): void => stepAside.mainBlocked();

  for (const signal of SIGNALS) {
    // Listeners the app added before start(): their handle calls the emit of that time, which
    // does not pass through the agent's. Re-create it so that it does.
    if (appCount(signal) > 0) rebindSignalHandle(signal, node, (fn) => own(fn));
    else addLone(signal);
  }
  Object.defineProperty(globalThis, Symbol.for(MAIN_BLOCKED_KEY), { value: mainBlocked, configurable: true, enumerable: false, writable: true });
  publishObserver(recorder);

  return {
    mainBlocked,
    uninstall(): void {
      if (!installed) return;
      for (const signal of SIGNALS) removeLone(signal);
      installed = false;
      emitObserver.uninstall();
      visibility.uninstall();
      selfKill.uninstall();
      if (currentObserver() === recorder) publishObserver(undefined);
      const g = globalThis as Record<symbol, unknown>;
      if (g[Symbol.for(MAIN_BLOCKED_KEY)] === mainBlocked) delete g[Symbol.for(MAIN_BLOCKED_KEY)];
      recorder.dispose();
    },
  };
}
