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
import { exitOrigin } from './exit-caller.js';
import { ShutdownRecorder } from './recorder.js';

export interface ShutdownHandle {
  uninstall(): void;
}

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
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

/** Follows signals, exit and crashes; `finalSample` records a last loop/resources sample. */
export function installShutdown(ctx: AgentContext, tracker: ResourceTracker, finalSample: () => void): ShutdownHandle {
  let installed = true;

  const onExit = (code: unknown): void => {
    try {
      const origin = exitOrigin(ctx.frameOptions);
      if (!recorder.active && !recorder.finished) recorder.begin(origin.viaExit ? 'exit' : 'beforeExit', null);
      recorder.end({ code: exitCode(code), signal: null, exitCaller: origin.caller });
    } catch {
      // never into the app, least of all on its way out
    }
  };

  // Listeners added by the app after the agent run after it; once a shutdown has started, moving
  // ours to the end lets it read the exit code after the app's own 'exit' listeners changed it.
  const moveExitListenerLast = (): void => {
    if (!installed) return;
    process.off('exit', onExit);
    process.on('exit', onExit);
  };

  const recorder = new ShutdownRecorder(ctx, tracker, finalSample, moveExitListenerLast);

  const onSignal = (signal: FollowedSignal): void => {
    try {
      // Decided at signal time, not at install time: the app may add or remove its listeners.
      const alone = process.listenerCount(signal) <= 1;
      if (recorder.active) recorder.signal(signal);
      else recorder.begin(signal, null);
      if (!alone) return;
      recorder.end({ code: null, signal, exitCaller: null });
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    } catch {
      // never into the app
    }
  };

  const onBeforeExit = (): void => {
    try {
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

  for (const signal of SIGNALS) process.on(signal, onSignal);
  process.on('beforeExit', onBeforeExit);
  process.on('uncaughtExceptionMonitor', onMonitor);
  process.on('exit', onExit);
  publishObserver(recorder);

  return {
    uninstall(): void {
      if (!installed) return;
      installed = false;
      for (const signal of SIGNALS) process.off(signal, onSignal);
      process.off('beforeExit', onBeforeExit);
      process.off('uncaughtExceptionMonitor', onMonitor);
      process.off('exit', onExit);
      if (currentObserver() === recorder) publishObserver(undefined);
      recorder.dispose();
    },
  };
}
