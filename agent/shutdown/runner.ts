// Runs the cleanup steps of one shutdown: in reverse registration order by default (last opened,
// first closed), each under its own timeout, a failing step reported while the rest still run,
// and an overall deadline that forces the exit. It reports each step to the agent's recorder when
// one is running, and works the same without it.
import type { ShutdownTrigger } from '../../shared/protocol.js';
import type { ForcedOutcome, ShutdownObserver } from './bridge.js';
import { captured } from '../captured.js';

export type StepFn = (signal: AbortSignal) => unknown;

export interface StepSpec {
  readonly name: string;
  readonly fn: StepFn;
  /** The step's own timeout; null: only the overall deadline applies. */
  readonly timeoutMs: number | null;
}

export interface RunConfig {
  /** Overall deadline from the start of the shutdown to a forced exit (ms). */
  timeoutMs: number;
  order: 'reverse' | 'registration';
  /** Call process.exit when the steps are done; false: set process.exitCode and let the loop drain. */
  exit: boolean;
  log: ((line: string) => void) | null;
}

export type StepOutcome = 'ok' | 'failed' | 'timeout';

export interface StepResult {
  name: string;
  outcome: StepOutcome;
  durationMs: number;
  error: string | null;
}

export interface ShutdownResult {
  trigger: ShutdownTrigger;
  reason: string | null;
  outcome: 'clean' | 'error' | 'timeout';
  exitCode: number;
  steps: StepResult[];
}

export interface RunnerHooks {
  observer(): ShutdownObserver | undefined;
  exit(code: number): void;
  setExitCode(code: number): void;
  /** Aborts shutdown.signal. */
  abort(reason: string): void;
}

/** Exit codes of the cleanup API (README documents them). */
export const EXIT_OK = 0;
/** A step failed or timed out, or the overall deadline passed. */
export const EXIT_FAILED = 1;
/** A second signal forces the exit at once: 128 + the signal number, as a shell reports a death by it. */
export function forcedBySignalCode(signo: number): number {
  return 128 + signo;
}

function errorMessage(err: unknown): string {
  try {
    if (err instanceof Error) return err.message || err.name;
    return String(err);
  } catch {
    return 'unprintable error';
  }
}

/** What keeps the loop alive now, by type: the deadline report works without the agent too. */
function stillOpenSummary(observer: ShutdownObserver | undefined): string {
  try {
    // With the agent: what really keeps the process alive, with creation sites (no stdio pipes).
    const fromAgent = observer?.keptAliveSummary?.();
    if (fromAgent) return fromAgent;
    const counts = new Map<string, number>();
    for (const t of process.getActiveResourcesInfo()) counts.set(t, (counts.get(t) ?? 0) + 1);
    if (counts.size === 0) return 'nothing';
    return [...counts].map(([t, n]) => (n > 1 ? `${t} x${n}` : t)).join(', ');
  } catch {
    return 'unknown';
  }
}

interface Current {
  name: string;
  startedAt: number;
  abort: AbortController;
}

export class CleanupRunner {
  private promise: Promise<ShutdownResult> | null = null;
  private current: Current | null = null;
  private deadline: NodeJS.Timeout | null = null;
  private forced = false;
  private config: RunConfig | null = null;

  constructor(private readonly hooks: RunnerHooks) {}

  get started(): boolean {
    return this.promise !== null;
  }

  /** Starts the shutdown once; later calls return the same result. */
  run(steps: readonly StepSpec[], trigger: ShutdownTrigger, reason: string | null, config: RunConfig): Promise<ShutdownResult> {
    if (this.promise) return this.promise;
    this.config = config;
    this.hooks.abort(reason ?? trigger);
    this.notify((o) => o.begin(trigger, reason));
    // Ref'd on purpose: this is the app's own cleanup, and a deadline that let the loop drain
    // first would never enforce anything. It is unref'd as soon as the steps are done.
    this.deadline = this.ownTimer(() => this.onDeadline(), config.timeoutMs);
    const ordered = config.order === 'reverse' ? [...steps].reverse() : [...steps];
    this.promise = this.runAll(ordered, trigger, reason, config);
    return this.promise;
  }

  /** A second signal during the shutdown: exit now, reporting the step it interrupted. */
  force(signal: string, code: number): void {
    if (this.forced) return;
    this.log(`${signal} received again during shutdown; exiting now with code ${code}`);
    this.forceExit('timeout', code, `interrupted by ${signal}`);
  }

  private async runAll(steps: StepSpec[], trigger: ShutdownTrigger, reason: string | null, config: RunConfig): Promise<ShutdownResult> {
    const results: StepResult[] = [];
    for (const step of steps) {
      if (this.forced) break;
      const result = await this.runStep(step);
      if (this.forced) break;
      results.push(result);
      if (result.outcome !== 'ok') this.log(`step "${step.name}" ${result.outcome === 'failed' ? 'failed' : 'timed out'}: ${result.error ?? ''}`);
    }
    const outcome = results.some((r) => r.outcome === 'timeout') ? 'timeout' : results.some((r) => r.outcome === 'failed') ? 'error' : 'clean';
    const exitCode = outcome === 'clean' ? EXIT_OK : EXIT_FAILED;
    const result: ShutdownResult = { trigger, reason, outcome, exitCode, steps: results };
    if (this.forced) return result;
    if (this.deadline) this.deadline.unref();
    if (outcome !== 'clean') this.notify((o) => o.forcing(outcome));
    if (config.exit) {
      if (this.deadline) captured.clearTimeout(this.deadline);
      this.hooks.exit(exitCode);
    } else if (exitCode !== EXIT_OK) {
      this.hooks.setExitCode(exitCode);
    }
    return result;
  }

  private runStep(step: StepSpec): Promise<StepResult> {
    const startedAt = captured.perfNow();
    const abort = new AbortController();
    this.current = { name: step.name, startedAt, abort };
    this.notify((o) => o.step(step.name, 'running', startedAt, null, null));
    return new Promise<StepResult>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      let settled = false;
      const settle = (outcome: StepOutcome, error: string | null): void => {
        if (settled) return;
        settled = true;
        if (timer) captured.clearTimeout(timer);
        const durationMs = captured.perfNow() - startedAt;
        if (this.current?.abort === abort) this.current = null;
        if (outcome === 'timeout') abort.abort(new DOMException(`step "${step.name}" timed out`, 'AbortError'));
        if (!this.forced) this.notify((o) => o.step(step.name, outcome, startedAt, durationMs, error));
        resolve({ name: step.name, outcome, durationMs, error });
      };
      if (step.timeoutMs !== null) {
        const ms = step.timeoutMs;
        timer = this.ownTimer(() => settle('timeout', `did not finish within ${ms} ms`), ms);
      }
      let pending: unknown;
      try {
        pending = step.fn(abort.signal);
      } catch (err) {
        settle('failed', errorMessage(err));
        return;
      }
      Promise.resolve(pending).then(
        () => settle('ok', null),
        (err: unknown) => settle('failed', errorMessage(err)),
      );
    });
  }

  private onDeadline(): void {
    const ms = this.config?.timeoutMs ?? 0;
    const step = this.current ? `while step "${this.current.name}" was running` : 'after the steps';
    this.log(`deadline of ${ms} ms passed ${step}; still open: ${stillOpenSummary(this.hooks.observer())}; exiting with code ${EXIT_FAILED}`);
    this.forceExit('timeout', EXIT_FAILED, `overall deadline of ${ms} ms passed`);
  }

  private forceExit(outcome: ForcedOutcome, code: number, why: string): void {
    this.forced = true;
    if (this.deadline) captured.clearTimeout(this.deadline);
    const cur = this.current;
    if (cur) {
      try {
        cur.abort.abort(new DOMException(why, 'AbortError'));
      } catch {
        // the exit matters more than the step's listeners
      }
      this.notify((o) => o.step(cur.name, 'timeout', cur.startedAt, captured.perfNow() - cur.startedAt, why));
    }
    this.notify((o) => o.forcing(outcome));
    this.hooks.exit(code);
  }

  /** Tells the agent's recorder, if one runs; a recording problem never stops the shutdown. */
  private notify(fn: (observer: ShutdownObserver) => void): void {
    try {
      const observer = this.hooks.observer();
      if (observer) fn(observer);
    } catch {
      // the cleanup goes on without the record
    }
  }

  /** A timer of the cleanup API itself, kept out of the agent's lists of what the app left open. */
  private ownTimer(fn: () => void, ms: number): NodeJS.Timeout {
    try {
      const observer = this.hooks.observer();
      if (observer) return observer.internal(() => captured.setTimeout(fn, ms));
    } catch {
      // fall through: an ordinary timer still enforces the timeout
    }
    return captured.setTimeout(fn, ms);
  }

  private log(line: string): void {
    try {
      this.config?.log?.(`loopscope shutdown: ${line}\n`);
    } catch {
      // a broken logger must not stop the shutdown
    }
  }
}
