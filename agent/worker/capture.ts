// The live stack of the blocked main thread, taken from this worker. Runtime.evaluate runs its
// expression on the main thread at its next interrupt check, which a JS loop reaches within a
// millisecond of CPU time; native code (sync I/O, crypto) only reaches it when it returns, so an
// answer that came late because of native code is a native block whose stack would describe a
// moment after it, and is not used. On a machine short of CPU an answer also comes late when the
// main thread merely waited for a CPU: what the process burned meanwhile, and whether the main
// thread was runnable or asleep in the kernel (Linux), tell the two apart. The session is connected only for the
// capture: a connected session makes process.exit() print "Waiting for the debugger to
// disconnect..." on the app's stderr. No Debugger domain (costly), never Runtime.terminateExecution
// (crashes Node 20).
import type { Session } from 'node:inspector';
import { createRequire } from 'node:module';
import { join, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CallbackResource, Frame } from '../../shared/protocol.js';
import { parseStack } from '../../shared/stack.js';
import { CAPTURE_KEY, type CaptureResult } from '../worker-messages.js';
import { epochNow } from '../shared-state.js';
import { canReadMainThreadState, mainThreadState } from './main-thread-state.js';

/** Past this without an answer, the main thread is taken to be in native code (but see below). */
export const NATIVE_AFTER_MS = 20;
/**
 * Where the main thread's state can be read, a capture goes on waiting past NATIVE_AFTER_MS while
 * the main thread is runnable and the process burns little CPU (JS waiting for a CPU), up to this
 * long after it was sent, so that a block is still announced on a starved machine.
 */
export const GIVE_UP_MS = 100;
/** How often a capture kept waiting past NATIVE_AFTER_MS looks again. */
const RECHECK_MS = 5;
/**
 * An answer evaluated later than this after the request is not trusted as live unless the process
 * burned no more CPU than this meanwhile: it may have run just after a native call returned, in
 * whatever code came next. (JS code answers within a millisecond of CPU time.)
 */
export const LIVE_EVAL_MS = 10;
/** Error.stackTraceLimit the main thread's capture uses; a stack that long may be cut. */
const TRACE_LIMIT = 100;

// The main thread's clock and the process's CPU time are read before the capture runs: when the
// expression was evaluated, and what the process burned until then, tell a thread that was
// running JS from one that only got to it after native code returned.
const EXPRESSION = `(() => {
  const capture = globalThis[Symbol.for(${JSON.stringify(CAPTURE_KEY)})];
  if (typeof capture !== 'function') return undefined;
  let at = 0, cpu = -1;
  try { at = performance.timeOrigin + performance.now(); } catch { at = Date.now(); }
  try { const u = process.cpuUsage(); cpu = u.user + u.system; } catch {}
  return at + '|' + cpu + '|' + capture();
})()`;

/** What the worker knew when it sent the request, and saw while it waited. */
interface Pending {
  at: number;
  /** process.cpuUsage() total, µs: the whole process, the same counter the main thread reads. */
  cpuMicros: number;
  /** The main thread's state can be read (Linux). */
  seesState: boolean;
  /** A look at the main thread while waiting found it asleep in the kernel. */
  sawAsleep: boolean;
}

function cpuMicrosNow(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/**
 * Whether an answer evaluated `lateMs` after the request is the live stack of the code that was
 * running at the request. Late by the wall clock alone proves nothing on a loaded machine, where
 * a main thread running JS can wait tens of milliseconds for a CPU: it is native code if the
 * process burned CPU meanwhile (code that does not check for interrupts) or the main thread was
 * seen asleep in the kernel. Where that cannot be seen, a late answer is not trusted.
 */
export function answeredLive(lateMs: number, cpuMs: number | null, seesState: boolean, sawAsleep: boolean): boolean {
  if (lateMs <= LIVE_EVAL_MS) return true;
  if (!seesState || sawAsleep || cpuMs === null) return false;
  return cpuMs <= LIVE_EVAL_MS;
}

/**
 * At a deadline with no answer: 'wait' while the main thread may still answer as JS code would,
 * else what to conclude.
 */
function atDeadline(pending: Pending, now: number): 'wait' | 'native' | 'unanswered' {
  if (!pending.seesState) return 'native';
  if ((cpuMicrosNow() - pending.cpuMicros) / 1000 > LIVE_EVAL_MS) return 'native';
  if (mainThreadState() !== 'runnable') {
    pending.sawAsleep = true;
    return 'native';
  }
  return now - pending.at >= GIVE_UP_MS ? 'unanswered' : 'wait';
}

type InspectorModule = typeof import('node:inspector');
let inspectorModule: InspectorModule | null | undefined;

/** Loaded on first use: a Node built without the inspector must still record, without stacks. */
function loadInspector(): InspectorModule | null {
  if (inspectorModule === undefined) {
    try {
      inspectorModule = createRequire(import.meta.url)('node:inspector') as InspectorModule;
    } catch {
      inspectorModule = null;
    }
  }
  return inspectorModule;
}

export type CaptureOutcome =
  | {
      kind: 'live';
      stack: Frame[];
      /** False when the stack reached the trace limit, so its bottom frames are missing. */
      complete: boolean;
      resource: CallbackResource | null;
      appSpan: CaptureResult['appSpan'];
      captureMs: number;
      /** When the main thread ran the capture (epoch ms). */
      evaluatedAt: number;
    }
  /** No answer in time, or one evaluated too late to be live: the main thread is in native code. */
  | { kind: 'native' }
  /**
   * No answer after GIVE_UP_MS, though the main thread stayed runnable and the process burned
   * little CPU: a machine too short of CPU to tell JS waiting its turn from native code.
   */
  | { kind: 'unanswered' }
  /** The inspector is unavailable or the agent's capture function is gone. */
  | { kind: 'failed'; reason: string };

export interface CaptureOptions {
  /** The package's dist folder: frames of its agent/ folder on top of the stack are the capture itself. */
  agentDir: string;
  nativeAfterMs?: number;
}

function isAgentFrame(frame: Frame, prefixes: readonly string[]): boolean {
  // The evaluated expression itself shows as an anonymous script.
  if (frame.file === '<anonymous>' || frame.file === '') return true;
  return prefixes.some((p) => frame.file.startsWith(p));
}

/**
 * Drops the capture's own frames from the top so the first frame is the app's blocking code.
 * Only the agent's own folder counts: other code shipped in the package (the demo app in
 * dashboard/demo) is an app like any other, and trimming it hid the demo's blocking function.
 */
export function trimCaptureFrames(frames: readonly Frame[], agentDir: string): Frame[] {
  const own = join(agentDir, 'agent') + sep;
  const prefixes = [own, pathToFileURL(own).href];
  let i = 0;
  while (i < frames.length && isAgentFrame(frames[i]!, prefixes)) i++;
  return frames.slice(i);
}

function parseResult(reply: unknown, agentDir: string, pending: Pending, captureMs: number): CaptureOutcome {
  if (typeof reply !== 'string') return { kind: 'failed', reason: 'the agent capture function is not installed on the main thread' };
  const bar = reply.indexOf('|');
  const bar2 = bar < 0 ? -1 : reply.indexOf('|', bar + 1);
  const evaluatedAt = Number(reply.slice(0, bar));
  const cpuAtEval = Number(reply.slice(bar + 1, bar2));
  if (bar < 0 || bar2 < 0 || !Number.isFinite(evaluatedAt)) return { kind: 'failed', reason: 'the main thread answered in an unknown form' };
  const cpuMs = Number.isFinite(cpuAtEval) && cpuAtEval >= 0 ? (cpuAtEval - pending.cpuMicros) / 1000 : null;
  if (!answeredLive(evaluatedAt - pending.at, cpuMs, pending.seesState, pending.sawAsleep)) return { kind: 'native' };
  let parsed: Partial<CaptureResult>;
  try {
    parsed = JSON.parse(reply.slice(bar2 + 1)) as Partial<CaptureResult>;
  } catch {
    return { kind: 'failed', reason: 'the main thread answered with something that is not JSON' };
  }
  const raw = parseStack(typeof parsed.stack === 'string' ? parsed.stack : '');
  return {
    kind: 'live',
    stack: trimCaptureFrames(raw, agentDir),
    complete: raw.length < TRACE_LIMIT,
    resource: parsed.resource ?? null,
    appSpan: parsed.appSpan ?? null,
    captureMs,
    evaluatedAt,
  };
}

let abandonCurrent: (() => void) | null = null;

/**
 * Disconnects a capture still waiting for its answer, at once. For the main thread's exit: with
 * a session connected, Node prints "Waiting for the debugger to disconnect..." on the app's
 * stderr, and on a starved machine this worker might only read the answer after the exit.
 */
export function abandonCapture(): void {
  abandonCurrent?.();
}

/**
 * Never rejects. Resolves within about nativeAfterMs whatever the main thread does, or up to
 * GIVE_UP_MS while the main thread waits for a CPU.
 */
export function captureMainStack(options: CaptureOptions): Promise<CaptureOutcome> {
  const nativeAfterMs = options.nativeAfterMs ?? NATIVE_AFTER_MS;
  return new Promise<CaptureOutcome>((resolveOutcome) => {
    const inspector = loadInspector();
    if (!inspector) {
      resolveOutcome({ kind: 'failed', reason: 'this Node has no inspector' });
      return;
    }
    let session: Session;
    try {
      session = new inspector.Session();
      session.connectToMainThread();
    } catch (err) {
      resolveOutcome({ kind: 'failed', reason: `inspector unavailable: ${(err as Error).message}` });
      return;
    }
    let settled = false;
    const finish = (outcome: CaptureOutcome): void => {
      if (settled) return;
      settled = true;
      if (abandonCurrent === abandon) abandonCurrent = null;
      clearTimeout(timer);
      try {
        // Also when no answer came: the disconnect is queued behind the evaluate on the main
        // thread, so the session is gone before the app's code runs on after the native call.
        session.disconnect();
      } catch {
        // already disconnected
      }
      resolveOutcome(outcome);
    };
    const started = performance.now();
    const pending: Pending = { at: epochNow(), cpuMicros: cpuMicrosNow(), seesState: canReadMainThreadState(), sawAsleep: false };
    // Timers run before this thread reads its messages: at a deadline the answer may be waiting
    // in the queue, so the deadline is looked at after them (setImmediate).
    const deadline = (): void => {
      if (settled) return;
      const verdict = atDeadline(pending, epochNow());
      if (verdict === 'wait') timer = setTimeout(() => setImmediate(deadline), RECHECK_MS);
      else finish({ kind: verdict });
    };
    let timer: NodeJS.Timeout = setTimeout(() => setImmediate(deadline), nativeAfterMs);
    const abandon = (): void => finish({ kind: 'unanswered' });
    abandonCurrent = abandon;
    try {
      session.post('Runtime.evaluate', { expression: EXPRESSION, returnByValue: true, silent: true }, (err, reply) => {
        if (settled) return;
        const captureMs = performance.now() - started;
        if (err) {
          finish({ kind: 'failed', reason: err.message });
          return;
        }
        if (reply.exceptionDetails) {
          finish({ kind: 'failed', reason: 'the capture function threw on the main thread' });
          return;
        }
        finish(parseResult(reply.result?.value, options.agentDir, pending, captureMs));
      });
    } catch (err) {
      finish({ kind: 'failed', reason: (err as Error).message });
    }
  });
}
