// The link between the cleanup API and the agent's shutdown recorder. The API must work without
// the agent (imported from code only), and the app may load a second copy of the package: the
// recorder is published on a global symbol rather than as a module variable so that any copy of
// the API finds the one recorder of the process.
import type { ShutdownTrigger } from '../../shared/protocol.js';

export type StepPhase = 'running' | 'ok' | 'failed' | 'timeout';

/** How the cleanup API forced the exit, for the end record (its exit code alone cannot say). */
export type ForcedOutcome = 'timeout' | 'error';

export interface ShutdownObserver {
  /** Starts the recorded shutdown unless one is already running. */
  begin(trigger: ShutdownTrigger, reason: string | null): void;
  /**
   * One cleanup step's progress. `startedAt` is performance.now() when the step began, so the
   * recorder places it relative to its own start; `durationMs` is null while running.
   */
  step(name: string, phase: StepPhase, startedAt: number, durationMs: number | null, error: string | null): void;
  /**
   * The cleanup API ended abnormally (a deadline, a failed or timed-out step, a second signal) and
   * is about to exit or has set process.exitCode: the outcome its exit code alone cannot tell.
   */
  forcing(outcome: ForcedOutcome): void;
  /**
   * Runs fn with what it creates kept out of the agent's resource lists: the cleanup API's own
   * timers are not the app's leftovers and must not show in a hang report.
   */
  internal<T>(fn: () => T): T;
  /** What keeps the process alive now, with creation sites, in one line (for the API's deadline message). */
  keptAliveSummary?(): string;
}

const KEY = Symbol.for('loopscope.shutdown.observer');

type GlobalWithObserver = typeof globalThis & { [KEY]?: ShutdownObserver };

export function publishObserver(observer: ShutdownObserver | undefined): void {
  const g = globalThis as GlobalWithObserver;
  if (observer) g[KEY] = observer;
  else delete g[KEY];
}

export function currentObserver(): ShutdownObserver | undefined {
  return (globalThis as GlobalWithObserver)[KEY];
}
