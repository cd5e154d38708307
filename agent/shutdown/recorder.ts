// One shutdown, as the agent records it: the start snapshot, each snapshot resource that closes,
// the cleanup steps the API reports, later signals, the hang watch and the end. It only records:
// every timer it owns is unref'd and created inside ctx.internal(), so it neither keeps the
// process alive nor shows up in its own resource lists; and made with the timer functions
// captured at load, so an app's fake timers cannot silence the hang reports.
import type { AgentContext } from '../context.js';
import type { ResourceSnapshot, ResourceTracker } from '../resources/tracker.js';
import type { Frame, LiveResource, ShutdownOutcome, ShutdownTrigger } from '../../shared/protocol.js';
import { epochNow } from '../shared-state.js';
import { captured } from '../captured.js';
import type { ForcedOutcome, ShutdownObserver, StepPhase } from './bridge.js';
import { formatHang, formatHangAgain, hangKey, type KeptAlive } from './hang-text.js';
import { writeStderr } from '../stderr.js';

/** Resources listed in shutdown.start and shutdown.hang at most (bounded message size). */
const SNAPSHOT_LIMIT = 500;
/** Polls look at every live resource: a truncated poll could not tell "closed" from "not listed". */
const POLL_LIMIT = 100_000;
/** Closes show within a loop turn or two of happening at this period (the brief's measurement). */
const FAST_POLL_MS = 5;
/** Once the shutdown hangs, closes are rare and precision matters less than cost. */
const SLOW_POLL_MS = 250;
/** Hang reports repeat while the process keeps hanging; past this count they stop (bounded output). */
const MAX_HANG_REPORTS = 60;
const MAX_ERROR_CHARS = 8_000;

interface Session {
  readonly trigger: ShutdownTrigger;
  /** performance.now() at the start: every "ms after start" is measured from here. */
  readonly t0: number;
  /** Snapshot resources not yet seen closing. */
  readonly open: Map<number, LiveResource>;
  poll: NodeJS.Timeout | null;
  hang: NodeJS.Timeout | null;
  hangReports: number;
  /** The list last printed on stderr, so a repeat prints one line. */
  lastHangKey: string | null;
}

export interface EndInput {
  code: number | null;
  signal: string | null;
  exitCaller: Frame | null;
}

function keptAlive(r: LiveResource): KeptAlive {
  const out: KeptAlive = { id: r.id, type: r.type, createdAt: r.createdAt };
  if (r.details) out.details = r.details;
  return out;
}

export function describeError(err: unknown): string {
  let text: string;
  try {
    if (err instanceof Error) text = typeof err.stack === 'string' && err.stack ? err.stack : `${err.name}: ${err.message}`;
    else text = String(err);
  } catch {
    text = Object.prototype.toString.call(err);
  }
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}...` : text;
}

export class ShutdownRecorder implements ShutdownObserver {
  private session: Session | null = null;
  private ended = false;
  private forced: ForcedOutcome | null = null;
  private crashError: string | null = null;
  private postTimer: NodeJS.Immediate | null = null;
  private pollSoon = false;

  constructor(
    private readonly ctx: AgentContext,
    private readonly tracker: ResourceTracker,
    private readonly finalSample: () => void,
  ) {}

  get active(): boolean {
    return this.session !== null && !this.ended;
  }

  get finished(): boolean {
    return this.ended;
  }

  begin(trigger: ShutdownTrigger, reason: string | null): void {
    if (this.session || this.ended) return;
    const t0 = captured.perfNow();
    const startedAt = epochNow();
    const snap = this.snapshot(SNAPSHOT_LIMIT);
    const session: Session = {
      trigger,
      t0,
      open: new Map(snap.resources.map((r) => [r.id, r])),
      poll: null,
      hang: null,
      hangReports: 0,
      lastHangKey: null,
    };
    this.session = session;
    this.ctx.record(
      { type: 'shutdown.start', trigger, reason, startedAt, resources: snap.resources, snapshotTruncated: snap.truncated },
      true,
    );
    this.schedulePoll(session, FAST_POLL_MS);
    this.scheduleHang(session);
  }

  step(name: string, phase: StepPhase, startedAt: number, durationMs: number | null, error: string | null): void {
    if (this.ended) return;
    if (!this.session) this.begin('api', null);
    const s = this.session;
    if (!s) return;
    this.ctx.record(
      {
        type: 'shutdown.step',
        name,
        startMs: Math.max(0, startedAt - s.t0),
        durationMs: durationMs === null ? null : Math.max(0, durationMs),
        outcome: phase,
        error,
      },
      false,
    );
    // A step often closes what it was about: look again at the end of this loop turn rather
    // than a poll period later.
    this.postSoon(phase !== 'running');
  }

  forcing(outcome: ForcedOutcome): void {
    this.forced = outcome;
  }

  internal<T>(fn: () => T): T {
    return this.ctx.internal(fn);
  }

  /** A later signal during the shutdown. */
  signal(signal: string): void {
    const s = this.session;
    if (!s || this.ended) return;
    this.ctx.record({ type: 'shutdown.signal', signal, afterMs: captured.perfNow() - s.t0 }, true);
  }

  /** An uncaught exception or rejection that will end the process (uncaughtExceptionMonitor). */
  crashed(err: unknown, trigger: 'uncaughtException' | 'unhandledRejection'): void {
    if (this.ended) return;
    this.crashError = describeError(err);
    this.begin(trigger, null);
  }

  /** Writes shutdown.end and waits, bounded, for the worker to have written everything. */
  end(input: EndInput): void {
    if (this.ended) return;
    if (!this.session) this.begin('exit', null);
    const s = this.session;
    this.ended = true;
    if (!s) return;
    this.stopTimers(s);
    this.poll(s);
    let outcome: ShutdownOutcome;
    if (this.crashError !== null) outcome = 'crash';
    else if (this.forced) outcome = this.forced;
    else if (input.signal) outcome = 'clean';
    else outcome = input.code === 0 || input.code === null ? 'clean' : 'error';
    try {
      this.finalSample();
    } catch {
      // a failed sample must not cost the end record
    }
    this.ctx.record(
      {
        type: 'shutdown.end',
        durationMs: captured.perfNow() - s.t0,
        outcome,
        exit: { code: input.code, signal: input.signal },
        exitCaller: input.exitCaller,
        error: this.crashError,
        stillOpen: [...s.open.values()].map(keptAlive),
      },
      true,
    );
    this.ctx.flushFinal(this.ctx.config.flushTimeoutMs);
  }

  /**
   * Steps and closes come in bursts (a step ends, what it closed goes): they are handed to the
   * worker once per loop turn, not one message each, so the worker is woken once.
   */
  private postSoon(pollFirst: boolean): void {
    if (pollFirst) this.pollSoon = true;
    if (this.postTimer) return;
    try {
      this.postTimer = this.ctx.internal(() =>
        captured.setImmediate(() => {
          this.postTimer = null;
          try {
            if (this.pollSoon && !this.ended) this.poll();
            this.pollSoon = false;
            // A zero wait: hands the queued records over now without waiting for the write.
            if (!this.ended) this.ctx.flushSync(0);
          } catch {
            // never into the app
          }
        }),
      );
      this.postTimer.unref();
    } catch {
      this.postTimer = null;
    }
  }

  /** Stops the timers (agent stop / uninstall). */
  dispose(): void {
    if (this.session) this.stopTimers(this.session);
  }

  private snapshot(limit: number): ResourceSnapshot {
    try {
      const snap = this.tracker.snapshot(limit);
      return { resources: snap.resources.slice(0, limit), truncated: snap.truncated };
    } catch {
      return { resources: [], truncated: 0 };
    }
  }

  /** Compares the live resources with the start snapshot; each one gone is a shutdown.closed. */
  private poll(s: Session | null = this.session): void {
    if (!s || s.open.size === 0) return;
    let snap: ResourceSnapshot;
    try {
      snap = this.tracker.snapshot(POLL_LIMIT);
    } catch {
      return;
    }
    if (snap.truncated > 0) return;
    const live = new Set<number>();
    for (const r of snap.resources) live.add(r.id);
    const afterMs = captured.perfNow() - s.t0;
    for (const [id, r] of s.open) {
      if (live.has(id)) continue;
      s.open.delete(id);
      this.ctx.record({ type: 'shutdown.closed', id, resourceType: r.type, closedAfterMs: afterMs }, false);
      this.postSoon(false);
    }
  }

  private schedulePoll(s: Session, everyMs: number): void {
    if (s.poll) captured.clearInterval(s.poll);
    s.poll = null;
    if (s.open.size === 0) return;
    s.poll = this.ctx.internal(() =>
      captured.setInterval(() => {
        try {
          this.poll(s);
          if (s.open.size === 0 && s.poll) {
            captured.clearInterval(s.poll);
            s.poll = null;
          }
        } catch {
          // never into the app
        }
      }, everyMs),
    );
    s.poll.unref();
  }

  keptAliveSummary(): string {
    const kept = this.snapshot(SNAPSHOT_LIMIT).resources.filter((r) => r.keepsAlive);
    if (kept.length === 0) return 'nothing';
    return kept
      .map((r) => {
        const at = r.createdAt;
        if (!at) return r.type;
        const file = at.file.split(/[\\/]/).pop() ?? at.file;
        return `${r.type} (${at.functionName ? `${at.functionName} ` : ''}${file}:${at.line})`;
      })
      .join(', ');
  }

  private scheduleHang(s: Session): void {
    const after = this.ctx.config.hangAfterMs;
    s.hang = this.ctx.internal(() => captured.setTimeout(() => this.reportHang(s), after));
    s.hang.unref();
  }

  private reportHang(s: Session): void {
    try {
      if (this.ended || this.session !== s) return;
      s.hangReports++;
      const afterMs = captured.perfNow() - s.t0;
      const snap = this.snapshot(SNAPSHOT_LIMIT);
      const kept = snap.resources.filter((r) => r.keepsAlive).map(keptAlive);
      this.ctx.record({ type: 'shutdown.hang', afterMs, keptAlive: kept }, true);
      if (this.ctx.config.hangStderr) {
        const key = hangKey(kept);
        const text = key === s.lastHangKey ? formatHangAgain(s.trigger, afterMs, kept.length) : formatHang(s.trigger, afterMs, kept);
        s.lastHangKey = key;
        writeStderr(text);
      }
      if (s.hangReports === 1) this.schedulePoll(s, SLOW_POLL_MS);
      if (s.hangReports < MAX_HANG_REPORTS) {
        this.scheduleHang(s);
      } else if (s.poll) {
        // Still alive after this long, it is no shutdown any more (an app that reloads on SIGHUP):
        // stop watching; the end is still recorded if it ever comes.
        captured.clearInterval(s.poll);
        s.poll = null;
      }
    } catch {
      // never into the app
    }
  }

  private stopTimers(s: Session): void {
    if (this.postTimer) captured.clearImmediate(this.postTimer);
    this.postTimer = null;
    if (s.poll) captured.clearInterval(s.poll);
    if (s.hang) captured.clearTimeout(s.hang);
    s.poll = null;
    s.hang = null;
  }
}
