// Follows every way a process ends: SIGTERM/SIGINT/SIGHUP, process.exit(), a drained loop, an
// uncaught exception or rejection, and the cleanup API. Transparency first: the app and its
// libraries must observe the same signal and exit listeners, and the same stacks, as without the
// agent (signal-exit re-raises a signal only when its own listeners are all there is; a wrapper
// around process.emit would be one more frame in the stack of every listener that throws). So:
// - the agent makes each signal's handle when Node would (signal-handles.ts, through Node's own
//   function), and the handle tells it a signal arrived before any listener runs, without a
//   frame of its own;
// - while the app has no listener for a signal, the agent holds its handle with no listener at
//   all: a signal then is the agent's alone, which records, flushes, steps aside and re-raises
//   it so the process dies by it as it would have. process.listeners(), listenerCount(),
//   process.emit('SIGTERM') and the max-listeners warning are the app's own;
// - process.exit() and a crash are seen where they set process._exiting (exiting-hook.ts), a
//   drained loop at 'beforeExit', the exit code at a listener put after the app's 'exit' ones.
// The agent's listeners (newListener, removeListener, beforeExit, exit, uncaughtExceptionMonitor)
// go into process's listener table without events (raw-listeners.ts) and are hidden from
// process.listeners() and friends (listener-visibility.ts). Nothing here listens for
// 'uncaughtException' or 'unhandledRejection': either would change what Node does with the error.
import type { AgentContext } from '../context.js';
import type { ResourceTracker } from '../resources/tracker.js';
import { captured } from '../captured.js';
import { publishObserver, currentObserver } from './bridge.js';
import { exitOrigin, type ExitOrigin } from './exit-caller.js';
import { watchExiting } from './exiting-hook.js';
import { ShutdownRecorder } from './recorder.js';
import { createStepAside } from './step-aside.js';
import { hideFromListenerQueries } from './listener-visibility.js';
import { rawAdd, rawDetach, rawRemove, rawRestore, rawTableAvailable, type Listener } from './raw-listeners.js';
import { watchSelfKill } from './self-kill.js';
import { makeSignalHandle, nodeSignalHooks } from './signal-handles.js';

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

function noop(): void {}

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
  const node = nodeSignalHooks();
  /** The agent's listeners on process: never the app's to see or count. */
  const hidden = new Set<Listener>();

  /** Set once the agent lets a signal kill the process: its listener must not come back then. */
  let reraising = false;
  /** The signal whose handle fired in this turn (cleared once its listeners have run). */
  let dispatching: string | null = null;

  const appCount = (event: string): number => {
    let n = 0;
    for (const f of rawListeners(event)) if (!hidden.has(f)) n++;
    return n;
  };
  /** Node's signal listeners are still there (an app's removeAllListeners() takes them too). */
  const nodeFollows = (): boolean => node.start !== null && node.stop !== null && rawListeners('newListener').some((f) => f.name === 'startListeningIfSignal');

  /**
   * Gives the signal a handle, as Node would for its first listener, that tells the agent a
   * signal arrived before any listener runs. The handle calls process.emit as it is now (a
   * library's replacement included), as Node's would.
   */
  const makeHandle = (signal: FollowedSignal): void => {
    ctx.internal(() =>
      makeSignalHandle(
        signal,
        process.emit as unknown as Parameters<typeof makeSignalHandle>[1],
        () => onSignal(signal),
        node,
      ),
    );
  };
  const closeHandle = (signal: string): void => {
    // Node's stop closes the handle only when nobody listens (listenerCount, without the agent's).
    if (node.stop) ctx.internal(() => node.stop!(signal));
  };

  /** Signals the app has no listener for, whose handle the agent holds: a signal there is the agent's alone. */
  const bare = new Set<string>();
  const removeBare = (signal: string): void => {
    if (!bare.delete(signal)) return;
    if (appCount(signal) === 0) closeHandle(signal);
  };
  const addBare = (signal: string): void => {
    if (!installed || reraising || stepAside.active || appCount(signal) > 0 || bare.has(signal) || !nodeFollows()) return;
    bare.add(signal);
    makeHandle(signal as FollowedSignal);
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
    removeBare(signal);
    if (kill) captured.kill.call(process, process.pid, signal);
  };

  const noteSignal = (signal: string): void => {
    if (recorder.active) recorder.signal(signal);
    else recorder.begin(signal as FollowedSignal, null);
  };

  /** A signal arrived at a handle the agent made, before any listener runs. */
  const onSignal = (signal: FollowedSignal): void => {
    if (!installed) return;
    dispatching = signal;
    // Nothing runs after the dispatch here: cleared once its listeners have run.
    captured.queueMicrotask(() => {
      if (dispatching === signal) dispatching = null;
    });
    noteSignal(signal);
    // Nobody listens: the process dies by it, as it would have without the agent's handle.
    if (bare.has(signal) && appCount(signal) === 0) dieBy(signal, true);
  };

  // Runs before Node's own newListener listener, which would make a signal's handle.
  function onNewListener(event: unknown): void {
    try {
      if (!installed || !isFollowed(event) || !nodeFollows()) return;
      // The handle the agent holds now serves the app's listener; without one, the agent makes it.
      if (!bare.delete(event) && appCount(event) === 0) makeHandle(event);
    } catch {
      // never into the app
    }
  }
  // Runs after Node's own removeListener listener, which closes the handle of a signal nobody
  // listens to any more: the agent holds one again, so the next signal is still recorded and
  // still kills the process.
  function onRemoveListener(event: unknown): void {
    try {
      if (installed && isFollowed(event) && appCount(event) === 0) addBare(event);
    } catch {
      // never into the app
    }
  }

  let origin: ExitOrigin | null = null;
  /** Puts the end listener after every 'exit' listener of the app's, just before 'exit' is emitted. */
  const armExitEnd = (): void => {
    rawRemove('exit', onExitEnd);
    rawAdd('exit', onExitEnd, false);
  };
  // process.exit() or a crash, just before 'exit' is emitted.
  const onExiting = (): void => {
    if (!installed) return;
    origin = exitOrigin(ctx.frameOptions);
    if (!recorder.active && !recorder.finished) recorder.begin(origin.viaExit ? 'exit' : 'beforeExit', null);
    armExitEnd();
  };
  // After the app's 'exit' listeners, which may have changed process.exitCode.
  function onExitEnd(code: unknown): void {
    try {
      if (!installed) return;
      if (!recorder.active && !recorder.finished) recorder.begin('beforeExit', null);
      recorder.end({ code: exitCode(code), signal: null, exitCaller: origin?.caller ?? null });
    } catch {
      // never into the app
    }
  }

  let extraTurn = false;
  function onBeforeExit(): void {
    try {
      if (!installed) return;
      // A signal that arrived in the loop's last turn sits unread in libuv's signal pipe (Node's
      // signal handles are unref'd): without the agent the process would have died by it. One
      // more, empty, loop turn dispatches it to the agent's listener, which re-raises it. Only
      // when the app has no beforeExit listener of its own, so nothing of the app sees the turn.
      if (!extraTurn && appCount('beforeExit') === 0 && SIGNALS.some((s) => bare.has(s))) {
        extraTurn = true;
        tracker.ownResource(ctx.internal(() => captured.setImmediate(noop)), 'Immediate');
        return;
      }
      if (!recorder.active && !recorder.finished) recorder.begin('beforeExit', null);
      armExitEnd();
      // If the app's beforeExit listeners give the loop more work, the end listener leaves again
      // at the next turn (it would count towards the app's max-listeners warning for 'exit').
      const out = ctx.internal(() => captured.setImmediate(() => rawRemove('exit', onExitEnd)));
      out.unref();
    } catch {
      // never into the app
    }
  }

  function onMonitor(error: unknown, kind: unknown): void {
    try {
      // Fatal when nobody handles it, what Node itself checks next.
      if (installed && appCount('uncaughtException') === 0 && !process.hasUncaughtExceptionCaptureCallback()) {
        recorder.crashed(error, kind === 'unhandledRejection' ? 'unhandledRejection' : 'uncaughtException');
      }
    } catch {
      // never into the app
    }
  }

  for (const f of [onNewListener, onRemoveListener, onExitEnd, onBeforeExit, onMonitor] as Listener[]) hidden.add(f);
  const visibility = hideFromListenerQueries(hidden);
  rawAdd('newListener', onNewListener as Listener, true);
  rawAdd('removeListener', onRemoveListener as Listener, false);
  rawAdd('beforeExit', onBeforeExit as Listener, true);
  rawAdd('uncaughtExceptionMonitor', onMonitor as Listener, false);
  const exiting = watchExiting(onExiting);

  const selfKill = watchSelfKill((signal) => {
    // No listener of the app's: the signal kills the process. Also when the agent's listener is
    // not there (stepped aside).
    if (!installed || reraising || !isFollowed(signal) || appCount(signal) > 0) return;
    // signal-exit re-raising the signal it is handling: already noted.
    if (dispatching !== signal) noteSignal(signal);
    dieBy(signal, false);
  });

  const stepAside = createStepAside(
    ctx,
    SIGNALS,
    {
      alone: (signal) => bare.has(signal) && appCount(signal) === 0,
      remove: removeBare,
      restore: addBare,
    },
    () => installed,
  );
  const mainBlocked = (): void => stepAside.mainBlocked();

  for (const signal of SIGNALS) {
    if (appCount(signal) === 0) {
      addBare(signal);
      continue;
    }
    // Listeners the app added before start(): their handle was made without the agent's hook.
    // Out of the table for a moment (no event), so that Node closes it; a new one; back in.
    if (!rawTableAvailable() || !nodeFollows()) continue;
    const entry = rawDetach(signal);
    closeHandle(signal);
    makeHandle(signal);
    rawRestore(signal, entry);
  }
  Object.defineProperty(globalThis, Symbol.for(MAIN_BLOCKED_KEY), { value: mainBlocked, configurable: true, enumerable: false, writable: true });
  publishObserver(recorder);

  return {
    mainBlocked,
    uninstall(): void {
      if (!installed) return;
      for (const signal of SIGNALS) removeBare(signal);
      installed = false;
      rawRemove('newListener', onNewListener as Listener);
      rawRemove('removeListener', onRemoveListener as Listener);
      rawRemove('beforeExit', onBeforeExit as Listener);
      rawRemove('uncaughtExceptionMonitor', onMonitor as Listener);
      rawRemove('exit', onExitEnd as Listener);
      exiting.uninstall();
      visibility.uninstall();
      selfKill.uninstall();
      if (currentObserver() === recorder) publishObserver(undefined);
      const g = globalThis as Record<symbol, unknown>;
      if (g[Symbol.for(MAIN_BLOCKED_KEY)] === mainBlocked) delete g[Symbol.for(MAIN_BLOCKED_KEY)];
      recorder.dispose();
    },
  };
}
