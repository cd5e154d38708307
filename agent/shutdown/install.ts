// Follows every way a process ends: SIGTERM/SIGINT/SIGHUP, process.exit(), a drained loop, an
// uncaught exception or rejection, and the cleanup API. Transparency first: a signal listener
// changes what Node does (it no longer dies), so when the agent's listener is the only one at the
// moment the signal arrives, it records, flushes, steps aside and re-raises the signal so the
// process dies by it exactly as it would have without the agent. When the app listens too, the
// agent only watches. Nothing here listens for 'uncaughtException' or 'unhandledRejection':
// either would change what Node does with the error.
import type { AgentContext } from '../context.js';
import type { ResourceTracker } from '../resources/tracker.js';
import { publishObserver, currentObserver } from './bridge.js';
import { exitOrigin, type ExitOrigin } from './exit-caller.js';
import { ShutdownRecorder } from './recorder.js';
import { createStepAside } from './step-aside.js';

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

function noop(): void {}
type FollowedSignal = (typeof SIGNALS)[number];

/** The code Node will exit with, read as late as the 'exit' event allows. */
function exitCode(fromEvent: unknown): number | null {
  const set = process.exitCode;
  const n = set === undefined || set === null || set === '' ? Number(fromEvent) : Number(set);
  return Number.isInteger(n) ? n : null;
}

/** An uncaught error ends the process only when nobody handles it (what Node itself checks). */
function errorIsFatal(): boolean {
  try {
    return process.listenerCount('uncaughtException') === 0 && !process.hasUncaughtExceptionCaptureCallback();
  } catch {
    return false;
  }
}

type ProcessWithReallyExit = NodeJS.Process & { reallyExit?: (code?: number) => never };

/** Follows signals, exit and crashes; `finalSample` records a last loop/resources sample. */
export function installShutdown(ctx: AgentContext, tracker: ResourceTracker, finalSample: () => void): ShutdownHandle {
  let installed = true;
  /** The caller of process.exit(), kept until reallyExit gives the final code. */
  let deferredCaller: ExitOrigin | null = null;

  const onExit = (code: unknown): void => {
    try {
      const origin = exitOrigin(ctx.frameOptions);
      // Read before begin(), which moves this listener last for later emits, not this one.
      const listeners = process.listeners('exit');
      const last = listeners[listeners.length - 1] === onExit;
      if (!recorder.active && !recorder.finished) recorder.begin(origin.viaExit ? 'exit' : 'beforeExit', null);
      // The app's own 'exit' listeners run after ours and may still change process.exitCode.
      // process.exit() ends in process.reallyExit(code) once they have run: read the code there.
      if (origin.viaExit && wrappedReallyExit && !last) {
        deferredCaller = origin;
        return;
      }
      recorder.end({ code: exitCode(code), signal: null, exitCaller: origin.caller });
    } catch {
      // never into the app, least of all on its way out
    }
  };

  const proc = process as ProcessWithReallyExit;
  const originalReallyExit = proc.reallyExit;
  let wrappedReallyExit: ((this: unknown, code?: number) => never) | null = null;
  if (typeof originalReallyExit === 'function') {
    // Same contract as the original (signal-exit wraps it the same way); only reads the code.
    wrappedReallyExit = function reallyExit(this: unknown, code?: number): never {
      if (deferredCaller) {
        const caller = deferredCaller.caller;
        deferredCaller = null;
        try {
          recorder.end({ code: exitCode(code), signal: null, exitCaller: caller });
        } catch {
          // the exit itself must happen whatever the record does
        }
      }
      return originalReallyExit.call(this, code);
    };
    proc.reallyExit = wrappedReallyExit;
  }

  // Listeners added by the app after the agent run after it; once a shutdown has started, moving
  // ours to the end lets it read the exit code after the app's own 'exit' listeners changed it.
  const moveExitListenerLast = (): void => {
    if (!installed) return;
    process.off('exit', onExit);
    process.on('exit', onExit);
  };

  const recorder = new ShutdownRecorder(ctx, tracker, finalSample, moveExitListenerLast);

  /** Set once the agent re-raises a signal to die by it: its listener must not come back then. */
  let reraising = false;
  const onSignal = (signal: FollowedSignal): void => {
    // Decided at signal time, not at install time: the app may add or remove its listeners.
    let alone = true;
    try {
      alone = process.listenerCount(signal) <= 1;
      if (recorder.active) recorder.signal(signal);
      else recorder.begin(signal, null);
      if (alone) recorder.end({ code: null, signal, exitCaller: null });
    } catch {
      // never into the app; and a failed record must not keep alive a process the signal kills
    }
    if (!alone) return;
    try {
      reraising = true;
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    } catch {
      // never into the app
    }
  };

  let extraTurn = false;
  const onBeforeExit = (): void => {
    try {
      // A signal that arrived in the loop's last turn sits unread in libuv's signal pipe (Node's
      // signal handles are unref'd): without the agent the process would have died by it. One
      // more, empty, loop turn dispatches it to the agent's listener, which re-raises it. Only
      // when the app has no beforeExit listener of its own, so nothing of the app sees the turn.
      if (!extraTurn && process.listenerCount('beforeExit') === 1 && agentAloneOnASignal()) {
        extraTurn = true;
        tracker.ownResource(ctx.internal(() => setImmediate(noop)), 'Immediate');
        return;
      }
      if (!recorder.active && !recorder.finished) recorder.begin('beforeExit', null);
    } catch {
      // never into the app
    }
  };

  const onMonitor = (err: unknown, origin: unknown): void => {
    try {
      if (!errorIsFatal()) return;
      recorder.crashed(err, origin === 'unhandledRejection' ? 'unhandledRejection' : 'uncaughtException');
    } catch {
      // never into the app
    }
  };

  const agentAloneOnASignal = (): boolean =>
    SIGNALS.some((signal) => {
      const listeners = process.listeners(signal);
      return listeners.length === 1 && listeners[0] === onSignal;
    });

  const stepAside = createStepAside(ctx, SIGNALS, onSignal as (signal: NodeJS.Signals) => void, () => installed);
  const mainBlocked = (): void => stepAside.mainBlocked();

  // The agent's listener runs first, and sees every listener of the app when it counts them. A
  // once() listener that ran before it would already be gone, and the agent would take a
  // signal the app handles for one it does not, and kill a process that was shutting down on its
  // own. First also means the snapshot is taken before the app's handler closes anything.
  // A listener the app adds (or prepends) later is moved behind it in a microtask: no signal can
  // be dispatched before that, since dispatch needs a loop turn.
  const frontQueued = new Set<FollowedSignal>();
  const signalListener = onSignal as (signal: NodeJS.Signals) => void;
  const moveToFront = (signal: FollowedSignal): void => {
    frontQueued.delete(signal);
    try {
      if (!installed) return;
      const listeners = process.listeners(signal);
      // Alone or already first: nothing to do. Absent (stepped aside): it comes back by itself.
      if (listeners.length < 2 || listeners[0] === signalListener || !listeners.includes(signalListener)) return;
      process.off(signal, signalListener);
      process.prependListener(signal, signalListener);
    } catch {
      // never into the app
    }
  };
  const onNewListener = (event: string | symbol, listener: unknown): void => {
    if (listener === onSignal || !(SIGNALS as readonly (string | symbol)[]).includes(event)) return;
    const signal = event as FollowedSignal;
    if (frontQueued.has(signal)) return;
    frontQueued.add(signal);
    queueMicrotask(() => moveToFront(signal));
  };

  // removeAllListeners('SIGTERM') by the app takes the agent's listener too: it comes back (first),
  // which changes nothing the app sees since, alone, it re-raises the signal.
  const onRemoveListener = (event: string | symbol, listener: unknown): void => {
    if (listener !== signalListener) return;
    const signal = event as FollowedSignal;
    queueMicrotask(() => {
      try {
        if (!installed || reraising || stepAside.active || process.listeners(signal).includes(signalListener)) return;
        ctx.internal(() => process.prependListener(signal, signalListener));
      } catch {
        // never into the app
      }
    });
  };

  // internal: the SignalWraps these create are the agent's, not the app's.
  ctx.internal(() => {
    for (const signal of SIGNALS) process.prependListener(signal, signalListener);
  });
  process.on('newListener', onNewListener);
  process.on('removeListener', onRemoveListener);
  Object.defineProperty(globalThis, Symbol.for(MAIN_BLOCKED_KEY), { value: mainBlocked, configurable: true, enumerable: false, writable: true });
  process.on('beforeExit', onBeforeExit);
  process.on('uncaughtExceptionMonitor', onMonitor);
  process.on('exit', onExit);
  publishObserver(recorder);

  return {
    mainBlocked,
    uninstall(): void {
      if (!installed) return;
      installed = false;
      for (const signal of SIGNALS) process.off(signal, onSignal);
      process.off('newListener', onNewListener);
      process.off('removeListener', onRemoveListener);
      process.off('beforeExit', onBeforeExit);
      process.off('uncaughtExceptionMonitor', onMonitor);
      process.off('exit', onExit);
      if (wrappedReallyExit && proc.reallyExit === wrappedReallyExit && originalReallyExit) proc.reallyExit = originalReallyExit;
      if (currentObserver() === recorder) publishObserver(undefined);
      const g = globalThis as Record<symbol, unknown>;
      if (g[Symbol.for(MAIN_BLOCKED_KEY)] === mainBlocked) delete g[Symbol.for(MAIN_BLOCKED_KEY)];
      recorder.dispose();
    },
  };
}
