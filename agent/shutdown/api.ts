// import { shutdown } from 'loopscope': register cleanup steps, run them on SIGTERM/SIGINT (or from
// code) under timeouts, and exit non-zero when the shutdown was not clean. Works without the agent;
// with it, every step shows on the shutdown timeline.
//
// Exit codes: 0 every step ok; 1 a step failed or timed out, or the overall deadline passed;
// 128 + signal number (130 SIGINT, 143 SIGTERM, 129 SIGHUP) when a second signal forces the exit.
import { constants } from 'node:os';
import type { ShutdownTrigger } from '../../shared/protocol.js';
import { currentObserver } from './bridge.js';
import { processOff, processOn } from '../captured.js';
import { MAX_TIMER_MS } from '../config.js';
import { CleanupRunner, forcedBySignalCode, type RunConfig, type ShutdownResult, type StepFn, type StepSpec } from './runner.js';

export type { ShutdownResult, StepResult, StepFn } from './runner.js';

export interface StepOptions {
  /** The step's own timeout (ms); without it only the overall deadline applies. */
  timeoutMs?: number;
}

export interface ShutdownOptions {
  /** Overall deadline (ms) from the first signal to a forced exit with code 1. Default 10000. */
  timeoutMs?: number;
  /** 'reverse' (default: last registered, first run) or 'registration'. */
  order?: 'reverse' | 'registration';
  /** Exit once the steps are done (default true); false sets process.exitCode when not clean and lets the loop drain. */
  exit?: boolean;
  /** Where failures, timeouts and forced exits are reported: true (stderr, default), false, or a function. */
  log?: boolean | ((line: string) => void);
}

export interface OnSignalsOptions extends ShutdownOptions {
  /** Default ['SIGTERM', 'SIGINT']. */
  signals?: readonly NodeJS.Signals[];
}

const DEFAULTS: RunConfig = {
  timeoutMs: 10_000,
  order: 'reverse',
  exit: true,
  // The app's stderr, unlike the agent's own warnings (agent/stderr.ts): this API is a library the
  // app calls, and its lines belong with the app's output wherever the app sends that.
  log: (line) => process.stderr.write(line),
};

/** A timeout in ms, capped where Node's timers stop (past it they fire after 1 ms); null when not a usable number. */
function timeoutOption(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.min(value, MAX_TIMER_MS) : null;
}

function resolveOptions(base: RunConfig, options: ShutdownOptions): RunConfig {
  const timeoutMs = options.timeoutMs;
  const log = options.log;
  return {
    timeoutMs: timeoutOption(timeoutMs) ?? base.timeoutMs,
    order: options.order === 'registration' || options.order === 'reverse' ? options.order : base.order,
    exit: typeof options.exit === 'boolean' ? options.exit : base.exit,
    log: log === undefined ? base.log : log === true ? DEFAULTS.log : log === false ? null : log,
  };
}

function signalNumber(signal: string): number {
  const n = (constants.signals as Record<string, number | undefined>)[signal];
  return typeof n === 'number' ? n : 0;
}

const steps: StepSpec[] = [];
const controller = new AbortController();
let config: RunConfig = DEFAULTS;
let removeListeners: (() => void) | null = null;

const runner = new CleanupRunner({
  observer: currentObserver,
  exit: (code) => process.exit(code),
  setExitCode: (code) => {
    process.exitCode = code;
  },
  abort: (reason) => {
    if (!controller.signal.aborted) controller.abort(new DOMException(`shutdown: ${reason}`, 'AbortError'));
  },
});

const SIGNAL_TRIGGERS: readonly string[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/** Signals the protocol has no trigger for (SIGUSR2...) are recorded as 'api' with the signal as reason. */
function asTrigger(signal: string): ShutdownTrigger {
  return SIGNAL_TRIGGERS.includes(signal) ? (signal as ShutdownTrigger) : 'api';
}

function onSignal(signal: NodeJS.Signals): void {
  if (runner.started) runner.force(signal, forcedBySignalCode(signalNumber(signal)));
  else void runner.run(steps, asTrigger(signal), asTrigger(signal) === 'api' ? signal : null, config);
}

export const shutdown = {
  /**
   * Registers a cleanup step. `fn` gets an AbortSignal aborted when the step times out or the
   * exit is forced. Returns a function that unregisters the step.
   */
  step(name: string, fn: StepFn, options: StepOptions = {}): () => void {
    if (typeof fn !== 'function') throw new TypeError('shutdown.step(name, fn): fn must be a function');
    const spec: StepSpec = { name: String(name), fn, timeoutMs: timeoutOption(options.timeoutMs) };
    steps.push(spec);
    return () => {
      const i = steps.indexOf(spec);
      if (i >= 0) steps.splice(i, 1);
    };
  },

  /**
   * Runs the steps on the first of `signals`, then exits (see the exit codes above); a second
   * signal exits at once. Calling it again replaces the previous signals and options. Returns a
   * function that removes the listeners.
   */
  onSignals(options: OnSignalsOptions = {}): () => void {
    removeListeners?.();
    config = resolveOptions(DEFAULTS, options);
    const signals = options.signals && options.signals.length > 0 ? [...options.signals] : (['SIGTERM', 'SIGINT'] as NodeJS.Signals[]);
    // Through the functions captured at load: an app's patched process.on (a logger, a test
    // runner) sees the listener arrive ('newListener' still fires), not a call of ours.
    for (const s of signals) processOn(s, onSignal);
    const remove = (): void => {
      for (const s of signals) processOff(s, onSignal);
      if (removeListeners === remove) removeListeners = null;
    };
    removeListeners = remove;
    return remove;
  },

  /**
   * Starts the shutdown from code: aborts `signal`, runs the steps, then exits unless
   * `exit: false`. Options default to those given to onSignals. A second call returns the first result.
   */
  begin(reason?: string, options: ShutdownOptions = {}): Promise<ShutdownResult> {
    return runner.run(steps, 'api', reason === undefined ? null : String(reason), resolveOptions(config, options));
  },

  /** Aborted when the shutdown begins (a signal given to onSignals, or begin()). */
  get signal(): AbortSignal {
    return controller.signal;
  },

  /** True once the shutdown has begun. */
  get started(): boolean {
    return runner.started;
  },
};
